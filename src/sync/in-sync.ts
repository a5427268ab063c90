import { digestTreesAsync, nativeListing, type TreeSumLookup, type TreeSums } from "../objects/index.js";
import { RACY_MS } from "../worktree/index.js";
import { pushRunFolders, runsDirPrefix } from "../runs/layout.js";
import type { Session } from "./session.js";
import type { StartedSums } from "./started-sums.js";

/**
 * The runs last found in sync with a remote, and how their folders were then. With these rows a
 * no-change push sums each run's `ID/`, `ID.meta/` and `ID.user/` up (in C, on every core, every
 * entry lstat'ed as a scan does) and compares three digests per run, instead of decoding the
 * cached view's entries, loading the stat cache and reading every user log.
 *
 * A row holds for one state of the cached view, named by its stamp: news from the remote change
 * the stamp, and rows made against another stamp are not used (src/state keeps them). A push that writes a head for
 * other runs carries the rows over to the new stamp (its head changes nothing for them), and a
 * run it pushes gets a row when the remote now holds exactly what was read here.
 */
/** One run's folders summed up. */
export interface RunSums {
  /**
   * The digests of `ID/`, `ID.meta/` and `ID.user/` as latin1 characters, 32 each (zeros for an
   * absent one); `undefined` when one could not be summed.
   */
  key: string | undefined;
  /**
   * Nothing in the folders changed within `RACY_MS` before the sum: a row may be kept. (A later
   * change has a later stamp, which changes the digest, even on a file system with coarse times.)
   */
  settled: boolean;
  files: number;
  bytes: number;
}

// Runs summed up per call: what one call holds stays small, and a runs directory of a few
// thousand runs is one call (each call ends with a thread idle).
const BATCH = 4096;

/** Runs summed up (`sumRuns`), and every folder's sum, for a scan of the runs that differ. */
export interface RunsSummed {
  runs: Map<string, RunSums>;
  treeSums: TreeSumLookup;
}

/**
 * Sums up the folders of live runs on `threads` threads, off this one (a push lists the remote
 * meanwhile). `undefined` without the native addon.
 */
export function sumRuns(runsDir: string, runIds: readonly string[], opts: SumRunsOptions): Promise<RunsSummed> | undefined {
  if (!nativeListing) return undefined;
  const summing = sumRunsAsync(runsDir, runIds, opts);
  // Awaited by the plan; left behind when opening the remote fails.
  summing.catch(() => undefined);
  return summing;
}

export interface SumRunsOptions {
  threads: number;
  nowMs: number;
  /**
   * Sums started earlier (`startRunSums`): taken for the runs they hold when of this runs
   * directory and at least half of them are asked for, else stopped.
   */
  started?: StartedSums | undefined;
}

async function sumRunsAsync(runsDir: string, runIds: readonly string[], opts: SumRunsOptions): Promise<RunsSummed> {
  const runs = new Map<string, RunSums>();
  const batches: TreeSums[] = [];
  let rest = runIds;
  const mine = opts.started?.runsDir === runsDir ? opts.started : undefined;
  // Waiting for every run's sums pays when most of them are asked for; a few runs (named ones)
  // are summed alone, and the started sums stopped: nothing else here will take them.
  const started = mine !== undefined && runIds.length * 2 >= mine.runIds.length ? mine : undefined;
  if (mine !== undefined && started === undefined) mine.stop();
  if (started !== undefined) {
    const sums = await started.sums;
    batches.push(sums);
    const at = new Map<string, number>();
    started.runIds.forEach((id, k) => at.set(id, k));
    const startedSettled = started.nowMs - RACY_MS;
    const unsummed: string[] = [];
    for (const id of runIds) {
      const k = at.get(id);
      if (k === undefined) unsummed.push(id);
      else runs.set(id, runSumsAt(sums, k, startedSettled));
    }
    rest = unsummed;
  }
  const settledBefore = opts.nowMs - RACY_MS;
  const prefix = runsDirPrefix(runsDir);
  for (let i = 0; i < rest.length; i += BATCH) {
    const batch = rest.slice(i, i + BATCH);
    const roots: string[] = [];
    for (const id of batch) pushRunFolders(roots, prefix, id);
    const sums = (await digestTreesAsync(roots, opts.threads))!;
    batches.push(sums);
    batch.forEach((id, k) => runs.set(id, runSumsAt(sums, k, settledBefore)));
  }
  const treeSums: TreeSumLookup = {
    get: (path) => {
      for (const sums of batches) {
        const sum = sums.get(path);
        if (sum !== undefined) return sum;
      }
      return undefined;
    },
  };
  return { runs, treeSums };
}

/** Run `k`'s sums among roots summed three per run (`ID/`, `ID.meta/`, `ID.user/`). */
function runSumsAt(sums: TreeSums, k: number, settledBefore: number): RunSums {
  // An absent folder's digest reads as zeros: a run without files or user log has no such
  // folder. Any other error, or no meta (not a run), leaves the run without a key.
  let summed = true;
  let settled = true;
  let files = 0;
  let bytes = 0;
  for (let at = 3 * k; at < 3 * k + 3; at++) {
    const error = sums.error(at);
    if (error !== undefined) {
      summed &&= (error as NodeJS.ErrnoException).code === "ENOENT" && at !== 3 * k + 1;
      continue;
    }
    settled &&= sums.newest(at) < settledBefore;
    files += sums.files(at);
    bytes += sums.bytes(at);
  }
  return { key: summed ? sums.digestKey(3 * k, 3 * k + 3) : undefined, settled, files, bytes };
}

/** The files and bytes of runs summed up: one progress event for runs found in sync at once. */
export function summedTotals(runIds: Iterable<string>, runs: ReadonlyMap<string, RunSums>): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const id of runIds) {
    files += runs.get(id)?.files ?? 0;
    bytes += runs.get(id)?.bytes ?? 0;
  }
  return { files, bytes };
}

/**
 * Sums up runs' folders where a pull staged them, each as [files, meta, user] (a path that does
 * not exist for a folder the run will not have). Digests name paths relative to each folder, so
 * they hold once the folders are moved into place. `settled` is left to the caller, who knows
 * what times it gave the files (`files` counts files and links). `undefined` without the addon.
 */
export async function sumStagedRuns(folders: readonly (readonly [string, string, string])[], threads: number): Promise<RunSums[] | undefined> {
  if (!nativeListing || folders.length === 0) return undefined;
  const sums = (await digestTreesAsync(folders.flat(), threads))!;
  return folders.map((_, k) => runSumsAt(sums, k, -Infinity));
}

/** The rows a session keeps, to save when it closes (with the stamp of the view it leaves). */
export interface InSyncState {
  rows: Map<string, string>;
  changed: boolean;
}

/**
 * The runs of `runIds` (live runs, summed up in `summed`) whose rows match, when the session's
 * view is the one the rows were made against. The session then keeps the rows that still hold
 * (`prune`: only those of `runIds`, when they are every live run the remote knows).
 */
export function findInSync(s: Session, runIds: readonly string[], opts: { prune: boolean; summed: RunsSummed }): Set<string> {
  const { summed } = opts;
  const saved = s.state.inSyncRows(s.viewStamp);
  const valid = saved ?? new Map<string, string>();
  const rows = opts.prune ? new Map(runIds.filter((id) => valid.has(id)).map((id) => [id, valid.get(id)!])) : valid;
  s.inSync = { rows, changed: saved === undefined || rows.size !== valid.size };
  return new Set(runIds.filter((id) => summed.runs.get(id)?.key !== undefined && rows.get(id) === summed.runs.get(id)!.key));
}

/** Records that a run was found in sync (its sums taken before it was compared). */
export function noteInSync(s: Session, runId: string, sums: RunSums | undefined): void {
  if (s.inSync === undefined) return;
  if (sums?.key === undefined || !sums.settled) dropInSync(s, runId);
  else if (s.inSync.rows.get(runId) !== sums.key) {
    s.inSync.rows.set(runId, sums.key);
    s.inSync.changed = true;
  }
}

/** Forgets a run's row: it moves, or was not found in sync. */
export function dropInSync(s: Session, runId: string): void {
  if (s.inSync?.rows.delete(runId)) s.inSync.changed = true;
}
