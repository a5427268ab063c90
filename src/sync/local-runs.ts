import { existsSync, lstatSync, readdirSync, readFileSync, statSync, type Stats } from "node:fs";
import { readdir } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { emptyStats, hashBytes, idOnlySink, nativeListing, type SnapshotStats, type TreeSumLookup } from "../objects/index.js";
import { RACY_MS, scanRunsHere, scanRunsOnWorkers, snapshotRunParts, type RunParts, type RunToScan, type StatCache } from "../worktree/index.js";
import { NothingSelectedError, RunNotFoundError, RunsDirError } from "../runs/errors.js";
import { META_SUFFIX, runPaths } from "../runs/layout.js";
import { listRuns, readRun, type Run } from "../runs/run.js";
import { matchRunSpec, parseWhere } from "../runs/select.js";
import { selectByNames } from "../runs/select-dir.js";
import { isStoreRunId, isUserLogName, type HeadEntry, type RunSummary } from "./heads.js";
import { namesIn, readPending, readRunHistory, statePaths } from "../state/index.js";
import { EMPTY_TREE, sameVersion, type RunVersion, type TreeVersion } from "./merge.js";


/** A local run to compare: its id, where its meta is, and the run once read. */
export interface RunRef {
  id: string;
  deleted: boolean;
  run?: Run;
}

/** A local run's trees and user log ids, computed through the stat cache (no file read when unchanged). */
export interface ScannedRun {
  ref: RunRef;
  files: string;
  meta: string;
  user: Record<string, string>;
  stats: SnapshotStats;
}

/** One local run in the form heads carry: read further than a scan, for a run that moves. */
export interface LocalRun {
  run: Run;
  entry: HeadEntry;
  version: RunVersion;
  stats: SnapshotStats;
  /** The state an interrupted pull was writing: merged as one more version, it supersedes the half-written one. */
  unfinished?: RunVersion;
}

export function runSummary(run: Run): RunSummary {
  const s: RunSummary = { operation: run.operation, status: run.status };
  for (const t of ["started", "staged", "initialized"] as const) {
    const v = run.timestamps[t];
    if (v !== undefined) s[t] = v;
  }
  return s;
}

function scanJob(runsDir: string, ref: RunRef): RunToScan {
  const paths = runPaths(runsDir, ref.id);
  return { runsDir, runId: ref.id, metaDir: ref.deleted ? paths.deletedMetaDir : paths.metaDir };
}

function scannedRun(ref: RunRef, parts: RunParts): ScannedRun {
  const user: Record<string, string> = {};
  for (const u of parts.user) if (isUserLogName(u.name)) user[u.name] = u.id;
  return { ref, files: parts.files, meta: parts.meta, user, stats: parts.stats };
}

/** Hashes a run's `ID/`, meta and `ID.user/` names; nothing is stored, unchanged files are not read. */
export async function scanRun(runsDir: string, ref: RunRef, cache: StatCache): Promise<ScannedRun> {
  const job = scanJob(runsDir, ref);
  return scannedRun(ref, await snapshotRunParts(runsDir, ref.id, { sink: idOnlySink, cache, metaDir: job.metaDir }));
}

// Below this many runs, starting worker threads costs more than the walk they would share.
const SCAN_WORKERS_MIN_RUNS = 32;

/**
 * With the addon, this thread's scan already sums folders up on every core, and its JavaScript is
 * a lookup per run folder: workers would only add their start-up. Without it, on two cores, this
 * thread alone scanned 2,000 runs (88,000 files) as fast as beside one or two workers (each
 * worker's start, modules and stat cache, costs what it saves; two walkers were each about as
 * slow as one alone); with more cores, every one takes a share.
 */
export function defaultScanThreads(cores = availableParallelism(), summedInC = nativeListing): number {
  return summedInC || cores <= 2 ? 1 : cores;
}

/**
 * `scanRun` for many runs (the walk of every file is the floor of a no-change push): on this
 * thread, or with `threads` > 1 and enough runs, over this thread and worker threads (which read
 * the saved stat cache themselves). `treeSums`: folders already summed up (`digestTrees`).
 */
export async function scanRuns(
  runsDir: string,
  refs: readonly RunRef[],
  cache: StatCache,
  opts: { threads?: number | undefined; treeSums?: TreeSumLookup | undefined } = {},
): Promise<ScannedRun[]> {
  const threads = opts.threads ?? defaultScanThreads();
  const jobs = refs.map((ref) => scanJob(runsDir, ref));
  const scans =
    threads > 1 && refs.length >= SCAN_WORKERS_MIN_RUNS
      ? await scanRunsOnWorkers(jobs, { cacheFile: statePaths.statCache(runsDir), cache, workers: threads - 1 })
      : await scanRunsHere(jobs, { cache, ...(opts.treeSums ? { treeSums: opts.treeSums } : {}) });
  return scans.map((scan, k) => scannedRun(refs[k]!, scan));
}

/**
 * A run the remote lacks altogether: it will be hashed once, while its objects are stored, so
 * planning only counts its files, from its folders' sums where `treeSums` has them (a walk of
 * every file through `fs` was a visible part of a first push). Its trees are the empty tree
 * until then.
 */
export function unscannedRun(runsDir: string, ref: RunRef, treeSums?: TreeSumLookup): ScannedRun {
  const paths = runPaths(runsDir, ref.id);
  const stats = emptyStats();
  // Names as bytes: one that is not UTF-8 is counted, and refused with its name before the push.
  const count = (dir: string | Buffer) => {
    for (const entry of readdirSync(dir, { withFileTypes: true, encoding: "buffer" })) {
      const path = Buffer.concat([Buffer.from(dir), Buffer.from("/"), entry.name as unknown as Buffer]);
      if (entry.isDirectory()) count(path);
      else if (entry.isFile()) {
        stats.files++;
        stats.bytes += lstatSync(path).size;
      }
    }
  };
  for (const dir of [paths.runDir, ref.deleted ? paths.deletedMetaDir : paths.metaDir]) {
    const sum = treeSums?.get(dir);
    if (sum !== undefined && !(sum instanceof Error)) {
      stats.files += sum.files;
      stats.bytes += sum.bytes;
    } else if (existsSync(dir)) count(dir);
  }
  const user: Record<string, string> = {};
  if (existsSync(paths.userDir)) for (const name of readdirSync(paths.userDir)) if (isUserLogName(name)) user[name] = "";
  return { ref, files: EMPTY_TREE, meta: EMPTY_TREE, user, stats };
}

/** True when a scan and a version hold the same trees and the same user log: nothing to move either way. */
export function sameState(scan: ScannedRun, v: RunVersion | undefined): boolean {
  return v !== undefined && sameVersion({ run: { tree: scan.files, prior: [] }, meta: { tree: scan.meta, prior: [] }, user: scan.user }, v);
}

/**
 * Reads what a moving run needs beyond its scan: its metadata (for the summary), its history
 * (what its trees supersede) and its user log bytes.
 */
export async function loadLocalRun(runsDir: string, scan: ScannedRun, cache?: StatCache): Promise<LocalRun> {
  const run = scan.ref.run ?? (await readRun(runsDir, scan.ref.id, { deleted: scan.ref.deleted }));
  const user: Record<string, Uint8Array> = {};
  const userIds: Record<string, string> = {};
  for (const name of Object.keys(scan.user)) {
    const path = join(run.paths.userDir, name);
    // Stamped before the read, as a snapshot does: the next scan looks the log up, not reads it.
    const stamp = cache === undefined ? undefined : lstatSync(path);
    const bytes = readFileSync(path);
    user[name] = bytes;
    userIds[name] = hashBytes(bytes);
    if (cache !== undefined && stamp !== undefined) cache.record(path, stamp, { id: userIds[name] });
  }
  const history = readRunHistory(runsDir, run.id);
  const prior = (list: string[], current: string) => list.filter((t) => t !== current);
  const entry: HeadEntry = {
    runId: run.id,
    run: { tree: scan.files, prior: prior(history.files, scan.files) },
    meta: { tree: scan.meta, prior: prior(history.meta, scan.meta) },
    user,
    summary: runSummary(run),
  };
  const local: LocalRun = { run, entry, version: { run: entry.run, meta: entry.meta, user: userIds }, stats: scan.stats };
  const pending = readPending(runsDir, run.id);
  if (pending) {
    // A pull was killed while writing this run: the trees it was writing supersede what is here.
    const toward = (target: string | undefined, part: TreeVersion): TreeVersion =>
      target === undefined || target === part.tree ? part : { tree: target, prior: [part.tree, ...part.prior] };
    local.unfinished = { run: toward(pending.files, entry.run), meta: toward(pending.meta, entry.meta), user: {} };
  }
  return local;
}

/**
 * The local runs a push acts on. No specs: every live run (deleted runs stay local). Specs select
 * from live runs by index, slice, id or name prefix; a spec that names a deleted run by id or
 * name selects it explicitly.
 */
export async function selectLocalRuns(
  runsDir: string,
  opts: { runs?: readonly string[]; where?: string; onWarning?: (msg: string) => void; listing?: RunsDirListing },
): Promise<RunRef[]> {
  const specs = opts.runs ?? [];
  const shareable = (id: string) => {
    if (isStoreRunId(id)) return true;
    opts.onWarning?.(`Skipping run ${id}: only runs with Gage's UUID ids can be shared`);
    return false;
  };
  // Every live run, found by its folder name alone: a run that does not move is never read.
  if (specs.length === 0 && opts.where === undefined) {
    const names = opts.listing?.names ?? (await listRunsDirNames(runsDir));
    return names
      .filter((n) => n.endsWith(META_SUFFIX) && n.length > META_SUFFIX.length)
      .map((n) => n.slice(0, -META_SUFFIX.length))
      .filter(shareable)
      .sort()
      .map((id) => ({ id, deleted: false }));
  }
  const warn = opts.onWarning ? { onWarning: opts.onWarning } : {};
  // Runs named by id or name prefix are found from the folder names: only those runs are read.
  const byNames = await selectByNames(runsDir, specs, { ...warn, deletedToo: true });
  let selected: Run[];
  if (byNames !== undefined) selected = [...byNames.live, ...byNames.deleted];
  else if (specs.length === 0) selected = await listRuns(runsDir, warn);
  else {
    const live = await listRuns(runsDir, warn);
    const deleted = await listRuns(runsDir, { ...warn, deleted: true });
    const chosen = new Set<Run>();
    for (const spec of specs) {
      let matched = matchRunSpec(live, spec);
      if (matched.length === 0) matched = deleted.filter((r) => r.id.startsWith(spec) || r.name.startsWith(spec));
      if (matched.length === 0) throw new RunNotFoundError(spec);
      for (const r of matched) chosen.add(r);
    }
    selected = [...live, ...deleted].filter((r) => chosen.has(r));
  }
  if (opts.where !== undefined) {
    const test = parseWhere(opts.where);
    selected = selected.filter(test);
    if (selected.length === 0) throw new NothingSelectedError(`No runs match --where '${opts.where}'`);
  }
  return selected.filter((r) => shareable(r.id)).map((run) => ({ id: run.id, deleted: run.deleted, run }));
}

async function listRunsDirNames(runsDir: string): Promise<string[]> {
  try {
    return await readdir(runsDir);
  } catch (err) {
    throw runsDirUnreadable(runsDir, err);
  }
}

function runsDirUnreadable(runsDir: string, err: unknown): RunsDirError {
  return new RunsDirError(runsDir, `Runs directory ${runsDir} cannot be read (${(err as NodeJS.ErrnoException).code})`, { cause: err });
}

/**
 * A runs directory's names, with its stamps from just before they were read. They are its names
 * still while the directory's inode, mtime and ctime stay as they were (a name made, removed or
 * renamed changes both stamps), unless those were within RACY_MS of the listing: a change in the
 * same clock tick leaves them as they were (docs/performance.md, Local caches).
 */
export interface RunsDirListing {
  names: readonly string[];
  ino: number;
  mtimeMs: number;
  ctimeMs: number;
  /** The stamps were older than RACY_MS when the names were read. */
  settled: boolean;
}

/** Lists a runs directory for `namesStill`; `nowMs` is the clock when it starts. */
export async function listRunsDir(runsDir: string, nowMs: number): Promise<RunsDirListing> {
  let st: Stats;
  try {
    // Synchronous: one call, not a step of the thread pool before the sums can start.
    st = statSync(runsDir);
  } catch (err) {
    throw runsDirUnreadable(runsDir, err);
  }
  const names = await listRunsDirNames(runsDir);
  const settled = Math.max(st.mtimeMs, st.ctimeMs) < nowMs - RACY_MS;
  return { names, ino: st.ino, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, settled };
}

/** The names of `listing` when they are still the directory's (`RunsDirListing`), else read now. */
export function namesStill(runsDir: string, listing: RunsDirListing | undefined): readonly string[] {
  if (listing?.settled) {
    const st = statSync(runsDir, { throwIfNoEntry: false });
    if (st !== undefined && st.ino === listing.ino && st.mtimeMs === listing.mtimeMs && st.ctimeMs === listing.ctimeMs) return listing.names;
  }
  return namesIn(runsDir);
}
