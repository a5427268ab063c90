// The content-addressed object store: ids, chunking, trees and snapshots, packs, the stat cache,
// snapshotting a run into packs and materializing it back. Knows nothing of remotes or the CLI:
// it reads and writes through `ObjectStorage`, which every remotes `Storage` satisfies.
export { isObjectId, parseObjectId, hashBytes, hashFile, type ObjectId } from "./ids.js";
export { ObjectNotFoundError, CorruptObjectError, UnsafePathError, FormatError } from "./errors.js";
export { listKeys, PACK_PREFIX, packKey, packIndexKey, legacyPackIndexKey, parsePackIndexKey, type ObjectStorage } from "./storage.js";
export { DEFAULT_CHUNKING, chunkBuffer, type ChunkingParams } from "./chunker.js";
export {
  encodeTree,
  decodeTree,
  encodeChunkList,
  decodeChunkList,
  encodeSnapshot,
  decodeSnapshot,
  treeId,
  snapshotId,
  compareNames,
  normalizeMode,
  badEntryName,
  type EntryKind,
  type TreeEntry,
  type Tree,
  type ChunkRef,
  type ChunkList,
  type SnapshotUserEntry,
  type SnapshotSummary,
  type SummaryValue,
  type Snapshot,
} from "./codec.js";
export { PackIndex, PackWriter, type ObjectSink, type PackWriterOptions, type WrittenPack, type PackLocation } from "./pack.js";
export { ObjectReader, loadPackIndex, loadPackIndexKept, type ReadManyOptions } from "./reader.js";
export { StatCache, RACY_MS, type StatCacheOptions, type FileStamp, type CachedIds, type FileIdCache } from "./stat-cache.js";
export { scanRunsOnWorkers, snapshotDirsOnWorkers, type ParallelSnapshotOptions, type DirSnapshot, type RunToScan } from "./snapshot-pool.js";
export {
  snapshotDir,
  snapshotRun,
  snapshotRunParts,
  scanRunsHere,
  idOnlySink,
  emptyStats,
  addStats,
  type FileProgress,
  type SnapshotStats,
  type SnapshotOptions,
  type SnapshotRunOptions,
  type SnapshotRunResult,
  type RunParts,
} from "./snapshot.js";
export { digestTrees, digestTreesAsync, nativeListing, TreeSums, type TreeSum, type TreeSumLookup } from "./dir-listing.js";
export { materializeTree, type MaterializeOptions, type MaterializeStats } from "./materialize.js";
export { MemoryObjectStorage } from "./memory-storage.js";
