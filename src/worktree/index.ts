// Reading run folders (docs/design.md §3): a run's parts as the object store keeps them, scans of many
// runs (here and on worker threads), folder snapshots on workers, and the stat cache they use.
export { StatCache, RACY_MS, WrittenRows, type StatCacheOptions } from "./stat-cache.js";
export { scanRunsOnWorkers, snapshotDirsOnWorkers, type ParallelSnapshotOptions, type DirSnapshot } from "./snapshot-pool.js";
export { snapshotRun, snapshotRunParts, scanRunsHere, type RunToScan, type RunParts, type SnapshotRunOptions, type SnapshotRunResult } from "./run-parts.js";
export { cachedTreeId } from "./cached-tree.js";
