import { existsSync, lstatSync } from "node:fs";
import { join } from "node:path";
import { availableParallelism } from "node:os";
import { digestTrees, ObjectReader, PackWriter, toMicros, type FileIdCache, type PackIndex, type TreeSumLookup, type WrittenPack, snapshotDir } from "../objects/index.js";
import { snapshotDirsOnWorkers, type StatCache } from "../worktree/index.js";
import { markReachable, type Closure } from "./closure.js";
import { RunMetaError, RunNotFoundError } from "../runs/errors.js";
import { runPaths } from "../runs/layout.js";
import { readRun, runMetaDir } from "../runs/run.js";
import { ConflictError, type RunConflict } from "./errors.js";
import { encodeHead, entryVersion, keyTime, loadRuns, noteHead, timesFor, writeCatalog, type EntryTimes, type HeadEntry } from "./heads.js";
import { listRunsDir, loadLocalRun, sameState, scanRuns, selectLocalRuns, unscannedRun, type LocalRun, type RunRef, type ScannedRun } from "./local-runs.js";
import { addRunHistory, ofPresentRun, presentRuns, RunStates, statePaths } from "../state/index.js";
import { forcePart, hasNews, MAX_PRIOR, mergeRunVersions, mergeUser, sameVersion, EMPTY_TREE, type PartMerge, type TreeVersion } from "./merge.js";
import { unionOfHints } from "./head-entry.js";
import { keepWrittenIndexes, loadHintedPackIndex, loadPushPackIndex, loadRemotePackIndex } from "./pack-index-cache.js";
import { conflictPaths, describeChange, plannedRun, remoteVersion } from "./plan.js";
import { dropInSync, findInSync, noteInSync, summedTotals, sumRuns, type RunSums } from "./in-sync.js";
import { gitRemoteSpec } from "./remote.js";
import { checkOnly, closeSession, namesHere, openSession, RUN_PARTS, type PlannedRun, type Session, type SyncOptions, type SyncProgressEvent, type TransferPlan } from "./session.js";

/** Compact the remote's heads into a catalog once this many are not covered by one. */
export const CATALOG_EVERY = 64;

export interface PushOptions extends SyncOptions {
  /**
   * A Git remote: bytes of new files one commit (and so one pack, built in memory by
   * isomorphic-git) may carry; a larger push is several commits and pushes. A run is never split.
   * Default 256 MiB (`DEFAULT_MAX_PACK_BYTES`).
   */
  maxPackBytes?: number;
}

export interface PushResult {
  remote: string;
  /** Runs that moved. */
  runs: PlannedRun[];
  upToDate: number;
  /** Objects and bytes (after compression) written in packs. */
  objects: number;
  bytes: number;
  /** The head written, if any. */
  head?: string;
}

interface PushItem {
  local: LocalRun;
  entry: HeadEntry;
  planned: PlannedRun;
  /** Parts whose local trees the remote may lack. */
  upload: { files: boolean; meta: boolean };
  /** The run's folders summed up before it was read, when they were. */
  sums: RunSums | undefined;
  /**
   * The remote lacks objects its version of this run reaches: every file is checked against the
   * remote's index, none trusted from a tree found there (`repairing`).
   */
  repair?: boolean;
  /** The pack hints of the remote's entries of this run (objects this push does not send are there). */
  priorHints: (readonly string[] | undefined)[];
}

/**
 * Plans a push: hashes the selected local runs (the stat cache skips unchanged files), compares
 * them with the remote's heads (one listing), and returns what would move. Nothing is written
 * until `execute`. A Git remote (by its URL or `[repos.NAME]` config) is pushed to its branch
 * instead (src/sync/git), with the same plan and result.
 * A run that diverged (and `force` is not set) is left out and named in the plan's `conflicts`,
 * with its paths: every other run moves, as a pull does.
 */
export async function planPush(opts: PushOptions): Promise<TransferPlan<PushResult>> {
  const git = await gitRemoteSpec(opts);
  if (git !== undefined) return (await import("./git/push.js")).planGitPush(opts, git);
  const only = checkOnly(opts.only);
  // Every run: the push prunes the state of runs gone, by the names listed here while they are still the directory's.
  const whole = !opts.runs?.length && opts.where === undefined;
  const listing = whole ? await listRunsDir(opts.runsDir, (opts.now ?? Date.now)()) : undefined;
  const refs = await selectLocalRuns(opts.runsDir, { ...opts, ...(listing === undefined ? {} : { listing }) });
  const live = refs.filter((ref) => !ref.deleted);
  const threads = availableParallelism();
  // Every live run is summed up (in C, on every core) while the remote is opened and its heads
  // are listed: a run found in sync is then up to date at once, a run the remote lacks is counted
  // from its sums, and the folders that move are read without being summed up again.
  const summing = sumRuns(opts.runsDir, live.map((r) => r.id), { threads, nowMs: (opts.now ?? Date.now)(), started: opts.startedSums });
  const s = await openSession(opts);
  s.listing = listing;
  try {
    const items: PushItem[] = [];
    const conflicts: RunConflict[] = [];
    let upToDate = 0;
    const moving: ScannedRun[] = [];
    // Runs whose folders are as when last found in sync, with no news from the remote since,
    // are up to date without a scan (or a look at the view's entries). Only whole runs (a push of
    // some parts compares those), and only runs the remote knows (asking the view decodes nothing).
    const known = live.filter((ref) => s.view.runs.has(ref.id));
    // A run the remote lacks is read through the stat cache whatever the sums say: the cache
    // loads while they are taken (this thread waits for them otherwise).
    if (known.length < live.length) void s.cache;
    const summed = await summing;
    const inSync =
      only.size === RUN_PARTS.length && summed !== undefined ? findInSync(s, known.map((r) => r.id), { prune: whole, summed }) : new Set<string>();
    const toCompare = inSync.size === 0 ? refs : refs.filter((ref) => !inSync.has(ref.id));
    if (inSync.size > 0) {
      // One event for them all: they were summed up at once.
      opts.onProgress?.({ phase: "scan", ...summedTotals(inSync, summed!.runs) });
      upToDate += inSync.size;
    }
    // The catalog segments of the runs compared (a run the view holds needs none).
    await loadRuns(s.view, s.remote.storage, toCompare.map((ref) => ref.id));
    const knownRefs = toCompare.length === 0 ? [] : toCompare.filter((ref) => s.view.runs.has(ref.id));
    const scanned = knownRefs.length === 0 ? [] : await scanRuns(opts.runsDir, knownRefs, s.cache, { threads: opts.scanThreads, treeSums: summed?.treeSums });
    const scans = new Map(scanned.map((scan) => [scan.ref, scan]));
    const same: ScannedRun[] = [];
    for (const ref of toCompare) {
      const known = s.view.runs.get(ref.id);
      const scan = scans.get(ref) ?? unscannedRun(opts.runsDir, ref, summed?.treeSums);
      opts.onProgress?.({ phase: "scan", files: scan.stats.files, bytes: scan.stats.bytes });
      if (known?.length === 1 && sameState(scan, remoteVersion(known))) {
        upToDate++;
        same.push(scan);
      } else {
        dropInSync(s, ref.id);
        moving.push(scan);
      }
    }
    // Runs named, or --force: each found up to date is checked against what the remote's indexes
    // list now, and one whose remote version reaches a missing object is sent again (repaired).
    const repair = opts.force === true || (opts.runs?.length ?? 0) > 0 ? await incompleteRuns(s, [...inSync, ...same.map((r) => r.ref.id)]) : new Set<string>();
    for (const scan of same) if (!repair.has(scan.ref.id)) noteInSync(s, scan.ref.id, summed?.runs.get(scan.ref.id));
    if (repair.size > 0) {
      upToDate -= repair.size;
      const fromInSync = refs.filter((ref) => repair.has(ref.id) && inSync.has(ref.id));
      const rescanned = fromInSync.length === 0 ? [] : await scanRuns(opts.runsDir, fromInSync, s.cache, { threads: opts.scanThreads });
      for (const scan of [...same.filter((r) => repair.has(r.ref.id)), ...rescanned]) {
        dropInSync(s, scan.ref.id);
        moving.push(scan);
      }
    }
    await readRuns(opts.runsDir, moving.map((m) => m.ref), opts.onWarning);
    for (const scan of moving) {
      // Its meta could not be read (warned): there is nothing to push it with.
      if (!scan.ref.run) continue;
      const local = await loadLocalRun(opts.runsDir, scan, s.cache);
      const run = local.run;
      const remoteEntries = s.view.runs.get(run.id) ?? [];
      const remote = remoteVersion(remoteEntries);
      const pick = (part: "files" | "meta", mine: TreeVersion, theirs: TreeVersion | undefined): TreeVersion | undefined =>
        s.only.has(part) ? mine : (theirs ?? { tree: EMPTY_TREE, prior: [] });
      const mine = {
        run: pick("files", local.version.run, remote?.run)!,
        meta: pick("meta", local.version.meta, remote?.meta)!,
        user: s.only.has("user") ? local.version.user : {},
      };
      const merged = mergeRunVersions([mine, ...(local.unfinished ? [local.unfinished] : []), ...remoteEntries.map(entryVersion)]);
      const resolve = (m: PartMerge, tree: string): (PartMerge & { conflict: false }) | undefined =>
        !m.conflict ? m : opts.force ? forcePart(m, tree) : undefined;
      const files = resolve(merged.run, mine.run.tree);
      const meta = resolve(merged.meta, mine.meta.tree);
      if (!files || !meta) {
        conflicts.push({ runId: run.id, paths: await conflictPaths(s, local, merged) });
        continue;
      }
      const userBytes: Record<string, Uint8Array> = {};
      for (const e of [...(s.only.has("user") ? [local.entry] : []), ...remoteEntries]) {
        for (const [name, bytes] of Object.entries(e.user)) userBytes[name] ??= bytes;
      }
      const next = { run: { tree: files.tree, prior: files.prior }, meta: { tree: meta.tree, prior: meta.prior }, user: mergeUser([mine.user, ...remoteEntries.map((e) => entryVersion(e).user)]) };
      const repairing = repair.has(run.id);
      if (remote && remoteEntries.length === 1 && !hasNews(next, remote) && !repairing) {
        upToDate++;
        continue;
      }
      const summary = meta.tree === local.version.meta.tree || remoteEntries.length === 0 ? local.entry.summary : remoteEntries.at(-1)!.summary;
      const entry: HeadEntry = { runId: run.id, run: next.run, meta: next.meta, user: userBytes, summary };
      const times = entryTimes(remoteEntries, next, local);
      if (times !== undefined) entry.times = times;
      const upload = {
        files: s.only.has("files") && files.tree === local.version.run.tree && (repairing || files.tree !== remote?.run.tree),
        meta: s.only.has("meta") && meta.tree === local.version.meta.tree && (repairing || meta.tree !== remote?.meta.tree),
      };
      const what = repairing ? "missing objects" : describeChange(next, remote);
      const sizeFiles = upload.files || upload.meta ? local.stats.files : Object.keys(next.user).length;
      const sizeBytes = upload.files || upload.meta ? local.stats.bytes : 0;
      const priorHints = remoteEntries.map((e) => e.packs);
      items.push({ local, entry, upload, priorHints, planned: plannedRun(run, what, sizeFiles, sizeBytes), sums: summed?.runs.get(run.id), ...(repairing ? { repair: true } : {}) });
    }
    return {
      remote: s.remote.url,
      runs: items.map((i) => i.planned),
      ...(conflicts.length === 0 ? {} : { conflicts: new ConflictError(conflicts) }),
      upToDate,
      scanned: toCompare.length,
      hashed: scanned.reduce((n, scan) => n + scan.stats.hashedFiles, 0),
      execute: async (onProgress) => {
        // A push of every run that moves some also forgets the runs no longer here: their
        // histories, and their stat cache rows (left out of the cache the push saves as it
        // closes: checked row by row when histories are of runs gone, else when the cache is
        // next written whole).
        const push = () => executePush(s, items, upToDate, summed?.treeSums, onProgress ?? opts.onProgress);
        if (items.length === 0 || !whole) return push();
        const present = presentRuns(opts.runsDir, namesHere(s));
        const states = RunStates.read(opts.runsDir);
        s.loadedCache?.forgetUnless(ofPresentRun(opts.runsDir, present), { thorough: states.anyGone(present) });
        const result = await push();
        if (result.head !== undefined) states.prune(present);
        return result;
      },
      close: () => closeSession(s, true),
    };
  } catch (err) {
    await closeSession(s, false);
    throw err;
  }
}

/**
 * Reads the metadata of the runs that move. Only those: reading every run's meta (a listing of
 * the runs directory) cost a one-edit push more than its scan of every file.
 */
async function readRuns(runsDir: string, refs: RunRef[], onWarning: ((msg: string) => void) | undefined): Promise<void> {
  const warn = onWarning ? { onWarning } : {};
  for (const ref of refs) {
    if (ref.run) continue;
    try {
      ref.run = await readRun(runsDir, ref.id, { deleted: ref.deleted, ...warn });
    } catch (err) {
      // Gone since it was selected: as if never selected. Unreadable: skipped, as `gage ls` does.
      if (err instanceof RunNotFoundError) continue;
      if (!(err instanceof RunMetaError)) throw err;
      onWarning?.(`Skipping run in ${runMetaDir({ paths: runPaths(runsDir, ref.id), deleted: ref.deleted })}: ${err.message}`);
    }
  }
}

async function executePush(
  s: Session,
  items: PushItem[],
  upToDate: number,
  planned: TreeSumLookup | undefined,
  onProgress: ((e: SyncProgressEvent) => void) | undefined,
): Promise<PushResult> {
  const result: PushResult = { remote: s.remote.url, runs: items.map((i) => i.planned), upToDate, objects: 0, bytes: 0 };
  try {
    if (items.length === 0) return result;
    onProgress?.({ phase: "upload", files: 0, bytes: 0, total: { files: items.reduce((n, i) => n + i.planned.files, 0), bytes: items.reduce((n, i) => n + i.planned.bytes, 0) } });
    const uploading = (i: PushItem) => i.upload.files || i.upload.meta;
    for (const item of items) if (!uploading(item)) Object.assign(item.entry, unionOfHints(item.priorHints));
    if (items.some(uploading)) {
      const index = await loadPushPackIndex(s, items.filter(uploading).reduce((n, i) => n + i.planned.bytes, 0));
      const onPack = (p: WrittenPack) => {
        result.objects += p.objects;
        result.bytes += p.bytes;
      };
      const writer = new PackWriter(s.remote.storage, { index, onPack, compress: s.remote.compress });
      const progress = (d: { files: number; bytes: number }) => onProgress?.({ phase: "upload", ...d });
      // Many runs are read on worker threads, every core hashing; the stat cache, saved, and the
      // remote's index spare them what did not change, as here.
      const jobs = items.flatMap((item) => uploadDirs(item).map((d) => ({ item, ...d })));
      // Summed up before they are read (a change meanwhile only makes a row no scan matches), so
      // that the next push finds each folder unchanged with one lookup: by the plan, or here for
      // folders it did not sum up (a deleted run named, no addon).
      const unsummed = jobs.map((j) => j.dir).filter((dir) => planned?.get(dir) === undefined);
      const extra = unsummed.length === 0 ? undefined : digestTrees(unsummed, availableParallelism());
      const treeSums: TreeSumLookup | undefined = planned === undefined ? extra : extra === undefined ? planned : { get: (dir) => planned.get(dir) ?? extra.get(dir) };
      // Each folder sent takes its files' times along, in the same packs (objects/times.ts), taken
      // from the listings its snapshot reads.
      const setSent = (item: PushItem, part: "files" | "meta", sent: { treeId: string; times?: string }) => {
        setTree(item, part, sent.treeId);
        if (sent.times !== undefined) item.entry.times = { ...item.entry.times, [part === "files" ? "run" : "meta"]: sent.times };
      };
      if (worthWorkers(items) && !items.some((i) => i.repair)) {
        const cacheFile = statePaths.statCache(s.runsDir);
        const trees = await snapshotDirsOnWorkers(
          jobs.map((j) => j.dir),
          {
            sink: writer,
            cache: s.cache,
            cacheFile,
            stored: index,
            onProgress: progress,
            onFound: (ids) => ids.forEach((id) => writer.noteReused(id)),
            times: true,
            ...(treeSums ? { treeSums } : {}),
          },
        );
        jobs.forEach((j, k) => setSent(j.item, j.part, trees[k]!));
      } else {
        for (const { item, part, dir } of jobs) {
          let last = { files: 0, bytes: 0 };
          const onFile = (p: { files: number; bytes: number }) => {
            progress({ files: p.files - last.files, bytes: p.bytes - last.bytes });
            last = p;
          };
          // Upload from what is on disk now; a file changed since planning is sent as it is now.
          const opts = item.repair ? { cache: fileRowsOnly(s.cache) } : { cache: s.cache, ...(treeSums ? { treeSums } : {}) };
          setSent(item, part, await snapshotDir(dir, { sink: writer, onProgress: onFile, times: true, ...opts }));
        }
      }
      // Packs and their indexes are durable before the head that reaches them (closure invariant).
      const written = await writer.flush();
      keepWrittenIndexes(s, written);
      // Pack hints: where this push put or found what it read (docs/formats.md, Heads).
      const packs = [...new Set([...written.map((p) => p.packId), ...writer.reusedPacks()])];
      for (const item of items) if (uploading(item)) Object.assign(item.entry, unionOfHints([...item.priorHints, packs]));
    }
    // After every head seen: a writer whose clock runs behind still names its head so that readers
    // listing from the newest head they know (minus the skew margin) find it.
    const newest = s.view.newest === undefined ? 0 : (keyTime(s.view.newest) ?? 0) + 1;
    const { key, bytes } = encodeHead(items.map((i) => i.entry), Math.max(s.now(), newest));
    await s.remote.storage.put(key, bytes);
    result.head = key;
    noteHead(s.view, key, items.map((i) => i.entry));
    s.viewChanged = true;
    for (const item of items) {
      await recordPushed(s.runsDir, item);
      // The remote now holds what was read here, and nothing more: in sync, as of the sums
      // taken before the read (a change since makes the next sum differ).
      if (sameVersion(entryVersion(item.entry), item.local.version)) noteInSync(s, item.entry.runId, item.sums);
    }
    if (s.view.uncovered >= CATALOG_EVERY) await writeCatalog(s.remote.storage, s.view, s.now());
    return result;
  } finally {
    await closeSession(s, true);
  }
}

/**
 * Of runs found up to date, those whose remote version reaches an object that no index the remote
 * lists now holds: their trees and chunk lists are read from the remote (a few reads per run).
 */
async function incompleteRuns(s: Session, runIds: readonly string[]): Promise<Set<string>> {
  if (runIds.length === 0) return new Set();
  await loadRuns(s.view, s.remote.storage, runIds);
  const roots = runIds.flatMap((id): [string, string][] => {
    const v = remoteVersion(s.view.runs.get(id) ?? []);
    return v === undefined ? [] : [[v.run.tree, id], [v.meta.tree, id]];
  });
  const missingIn = async (index: PackIndex) => {
    const closure: Closure = { reader: new ObjectReader(s.remote.storage, index), reachable: new Set(), missing: new Map() };
    await markReachable(closure, roots);
    return closure.missing;
  };
  // The packs the runs' entries hint at hold what they reach (a run named needs not every index
  // of the remote); every index is read only when an object is in none of them.
  const hinted = unionOfHints(runIds.flatMap((id) => (s.view.runs.get(id) ?? []).map((e) => e.packs))).packs;
  if (hinted !== undefined && (await missingIn((await loadHintedPackIndex(s, new Set(hinted))).index)).size === 0) return new Set();
  return new Set((await missingIn(await loadRemotePackIndex(s))).values());
}

/**
 * The stat cache's file rows alone, and only for files stored whole: a run being repaired is
 * walked folder by folder and every file and chunk is looked up in the remote's index, never
 * answered by a tree or chunk list found there.
 */
function fileRowsOnly(cache: StatCache): FileIdCache {
  return {
    lookup: (path, stamp) => {
      const ids = cache.lookup(path, stamp);
      return ids?.chunks === undefined ? ids : undefined;
    },
    record: (path, stamp, ids) => cache.record(path, stamp, ids),
    lookupDir: () => undefined,
    recordDir: () => undefined,
  };
}

// Below this, starting worker threads costs more than it saves.
const WORKERS_MIN_FILES = 256;
const WORKERS_MIN_BYTES = 64 * 1024 * 1024;

function worthWorkers(items: PushItem[]): boolean {
  const moving = items.filter((i) => i.upload.files || i.upload.meta);
  const files = moving.reduce((n, i) => n + i.planned.files, 0);
  const bytes = moving.reduce((n, i) => n + i.planned.bytes, 0);
  return moving.length > 1 && (files >= WORKERS_MIN_FILES || bytes >= WORKERS_MIN_BYTES);
}

/** The directories of a run to store; a part whose directory is missing is the empty tree. */
function uploadDirs(item: PushItem): { part: "files" | "meta"; dir: string }[] {
  const out: { part: "files" | "meta"; dir: string }[] = [];
  const dirs = { files: item.local.run.paths.runDir, meta: runMetaDir(item.local.run) };
  for (const part of ["files", "meta"] as const) {
    if (!item.upload[part]) continue;
    if (existsSync(dirs[part])) out.push({ part, dir: dirs[part] });
    else setTree(item, part, EMPTY_TREE);
  }
  return out;
}

function setTree(item: PushItem, part: "files" | "meta", tree: string): void {
  const version = item.local.version;
  if (part === "files") item.entry.run = version.run = { ...item.entry.run, tree };
  else item.entry.meta = version.meta = { ...item.entry.meta, tree };
}

/** The local copy now descends from the remote trees its pushed trees superseded. */
async function recordPushed(runsDir: string, item: PushItem): Promise<void> {
  const mine = item.local.version;
  const part = (merged: TreeVersion, local: TreeVersion) => (merged.tree === local.tree ? [...merged.prior, local.tree] : [local.tree]);
  addRunHistory(runsDir, item.entry.runId, { files: part(item.entry.run, mine.run), meta: part(item.entry.meta, mine.meta) }, MAX_PRIOR);
}

/**
 * The times a run's entry carries: the remote's for the trees it keeps, and this side's user log
 * files' own (the times of folders sent are added as they are read).
 */
function entryTimes(remoteEntries: readonly HeadEntry[], next: { run: TreeVersion; meta: TreeVersion }, local: LocalRun): EntryTimes | undefined {
  const times: EntryTimes = timesFor(remoteEntries, { run: next.run.tree, meta: next.meta.tree }) ?? {};
  for (const name of Object.keys(local.version.user)) {
    const st = lstatSync(join(local.run.paths.userDir, name), { throwIfNoEntry: false });
    if (st !== undefined) times.user = { ...times.user, [name]: toMicros(st.mtimeMs) };
  }
  return Object.keys(times).length > 0 ? times : undefined;
}

/** Plans and executes a push in one call (no confirmation: the library caller decides). */
export async function push(opts: PushOptions): Promise<PushResult> {
  const plan = await planPush(opts);
  const result = await plan.execute();
  if (plan.conflicts) throw plan.conflicts;
  return result;
}
