import { availableParallelism } from "node:os";
import { join } from "node:path";
import {
  addFileEntries,
  addTreeSum,
  badEntryName,
  decodeFileEntries,
  digestTreesAsync,
  emptyStats,
  encodeSnapshot,
  hashBytes,
  idOnlySink,
  Snapshotter,
  UnsafePathError,
  wholeTreeKey,
  type FileIdCache,
  type ObjectId,
  type Snapshot,
  type SnapshotOptions,
  type SnapshotStats,
  type SnapshotSummary,
  type SnapshotUserEntry,
  type TreeSum,
  type TreeSumLookup,
} from "../objects/index.js";
import { runsDirPrefix } from "../runs/layout.js";

// A run's folders as the object store keeps them: `ID/` and the meta folder as trees, `ID.user/`
// as a list of log files stored whole. `ID.project` is never read.

export interface SnapshotRunOptions extends SnapshotOptions {
  parents?: ObjectId[];
  summary?: SnapshotSummary;
  /** The meta directory to store (default `ID.meta`; e.g. `ID.meta.deleted` for a deleted run). */
  metaDir?: string;
}

export interface SnapshotRunResult {
  snapshotId: ObjectId;
  snapshot: Snapshot;
  stats: SnapshotStats;
}

/** A run's parts as a snapshot holds them: what a scan compares, without the snapshot object. */
export interface RunParts {
  files: ObjectId;
  meta: ObjectId;
  user: SnapshotUserEntry[];
  stats: SnapshotStats;
}

/**
 * Stores one run's parts: `ID/` (an empty tree when absent), the meta directory, and every
 * `ID.user/` log file. `ID.project` is never read. With `idOnlySink` and a stat cache, this is
 * the scan that tells whether a run changed.
 */
export async function snapshotRunParts(runsDir: string, runId: string, options: SnapshotRunOptions): Promise<RunParts> {
  const bad = badEntryName(runId);
  if (bad !== undefined) throw new UnsafePathError(runId, bad);
  const s = new Snapshotter(options);
  const runDir = join(runsDir, runId);
  const metaDir = options.metaDir ?? `${runDir}.meta`;
  const sums = options.treeSums;
  const runSum = sums?.get(runDir);
  let files: ObjectId;
  if (runSum !== undefined && !(runSum instanceof Error)) files = await s.tree(runDir, runSum);
  else {
    const listing = s.listIfPresent(runDir);
    files = listing === undefined ? await s.emptyTree() : await s.dir(runDir, listing);
  }
  const metaSum = sums?.get(metaDir);
  const meta = metaSum !== undefined && !(metaSum instanceof Error) ? await s.tree(metaDir, metaSum) : await s.dir(metaDir);
  const userDir = `${runDir}.user`;
  const userSum = sums?.get(userDir);
  const user = userSum !== undefined && !(userSum instanceof Error) ? await s.wholeFilesFromSum(userDir, userSum) : await s.wholeFiles(userDir);
  return { files, meta, user, stats: s.stats };
}

/** A run to scan: its runs directory, id, and meta directory (`ID.meta`, or `ID.meta.deleted`). */
export interface RunToScan {
  runsDir: string;
  runId: string;
  metaDir: string;
}

// Runs summed up ahead at once: the parallel part of a scan, in batches so progress and aborts
// come between them.
const SCAN_BATCH = 256;

/**
 * `join(r.runsDir, r.runId)`, with the runs directory joined once for a run of many: a join per
 * run normalizes the whole path again, in code run once per run (not yet optimized). An id that
 * is not one plain name is joined as it is (and refused where it is read).
 */
export function runDirsOf(): (r: RunToScan) => string {
  let dir: string | undefined;
  let base = "";
  return (r) => {
    if (badEntryName(r.runId) !== undefined) return join(r.runsDir, r.runId);
    if (r.runsDir !== dir) {
      dir = r.runsDir;
      base = runsDirPrefix(dir);
    }
    return base + r.runId;
  };
}

/**
 * Scans runs on this thread, as `snapshotRunParts` with a sink that stores nothing: each run's
 * tree ids and user log entries, answered by `cache` where files did not change. Each batch of
 * runs' folders is first summed up on `listingThreads` threads (`digestTrees`), so an unchanged
 * folder costs one lookup; a changed one is walked. `treeSums`: the folders already summed up.
 */
export async function scanRunsHere(
  runs: readonly RunToScan[],
  opts: { cache?: FileIdCache; listingThreads?: number; signal?: AbortSignal; treeSums?: TreeSumLookup },
): Promise<RunParts[]> {
  const out: RunParts[] = [];
  const threads = opts.listingThreads ?? availableParallelism();
  const runDirOf = runDirsOf();
  // Each batch is summed up while this thread looks the one before up: the two overlap. Two batches
  // are in flight, so the sum threads have the next one's folders when a batch's last ones end.
  const sumUp = (from: number) => {
    if (opts.cache === undefined || opts.treeSums !== undefined || from >= runs.length) return undefined;
    const roots: string[] = [];
    for (const r of runs.slice(from, from + SCAN_BATCH)) {
      const runDir = runDirOf(r);
      roots.push(runDir, r.metaDir, `${runDir}.user`);
    }
    const sums = digestTreesAsync(roots, threads);
    // Awaited at the next batch; left behind when this one throws.
    sums?.catch(() => undefined);
    return sums;
  };
  let next = sumUp(0);
  let after = sumUp(SCAN_BATCH);
  for (let i = 0; i < runs.length; i += SCAN_BATCH) {
    opts.signal?.throwIfAborted();
    const batch = runs.slice(i, i + SCAN_BATCH);
    // The batch's own sums are read by position (its roots are three a run, in order), given ones by path.
    const own = opts.cache === undefined || opts.treeSums !== undefined ? undefined : await next;
    const treeSums = opts.cache === undefined ? undefined : (opts.treeSums ?? own);
    next = after;
    after = sumUp(i + 2 * SCAN_BATCH);
    for (let j = 0; j < batch.length; j++) {
      const r = batch[j]!;
      let known: RunParts | undefined;
      if (opts.cache !== undefined && treeSums !== undefined) {
        const runDir = runDirOf(r);
        known =
          own !== undefined
            ? partsFromSums(r, runDir, own.at(3 * j), own.at(3 * j + 1), own.at(3 * j + 2), opts.cache)
            : partsFromSums(r, runDir, treeSums.get(runDir), treeSums.get(r.metaDir), treeSums.get(`${runDir}.user`), opts.cache);
      }
      out.push(
        known ??
          (await snapshotRunParts(r.runsDir, r.runId, {
          sink: idOnlySink,
          metaDir: r.metaDir,
          ...(opts.cache ? { cache: opts.cache } : {}),
          ...(treeSums ? { treeSums } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
          })),
      );
    }
  }
  return out;
}

type SumOrNot = TreeSum | Error | undefined;
const isSum = (s: SumOrNot): s is TreeSum => s !== undefined && !(s instanceof Error);

/**
 * A run whose three folders each match a stat-cache row under their sums, read from the rows
 * alone: what `snapshotRunParts` finds then (`tree` and `userLog` hits), without a `Snapshotter`
 * or an await per folder, which were most of a no-change scan's JavaScript. `undefined` when any
 * folder needs a look. `runDir`: the run's folder, `join(r.runsDir, r.runId)`; the sums: of it, of
 * `r.metaDir` and of `runDir.user`.
 */
function partsFromSums(r: RunToScan, runDir: string, filesSum: SumOrNot, metaSum: SumOrNot, userSum: SumOrNot, cache: FileIdCache): RunParts | undefined {
  if (badEntryName(r.runId) !== undefined) return undefined;
  if (!isSum(filesSum) || !isSum(metaSum) || !isSum(userSum) || cache.lookupList === undefined) return undefined;
  // The user log first: it is what changes most (a label), and a miss here costs the walk no
  // lookup twice.
  const row = cache.lookupList(wholeTreeKey(`${runDir}.user`), userSum.digest);
  const user = row === undefined ? undefined : decodeFileEntries(row);
  const files = user === undefined ? undefined : cache.lookupDir(wholeTreeKey(runDir), filesSum.digest);
  const meta = files === undefined ? undefined : cache.lookupDir(wholeTreeKey(r.metaDir), metaSum.digest);
  if (files === undefined || meta === undefined || user === undefined) return undefined;
  const stats = emptyStats();
  addTreeSum(stats, filesSum);
  addTreeSum(stats, metaSum);
  addFileEntries(stats, user);
  return { files, meta, user, stats };
}

/** Stores one run (`snapshotRunParts`), then the snapshot itself. */
export async function snapshotRun(runsDir: string, runId: string, options: SnapshotRunOptions): Promise<SnapshotRunResult> {
  const { files, meta, user, stats } = await snapshotRunParts(runsDir, runId, options);
  const snapshot: Snapshot = { runId, files, meta, user, parents: options.parents ?? [], summary: options.summary ?? {} };
  const bytes = encodeSnapshot(snapshot);
  const snapshotId = hashBytes(bytes);
  if (await options.sink.add(snapshotId, bytes)) {
    stats.newObjects++;
    stats.newBytes += bytes.length;
  }
  return { snapshotId, snapshot, stats };
}
