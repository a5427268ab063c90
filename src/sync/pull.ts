import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, lstatSync, readdirSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import pLimit from "p-limit";
import { decodeName, materializeTree, ObjectReader, osPath, TreeBudget, type Tree } from "../objects/index.js";
import { writeFileAtomic } from "../runs/atomic-write.js";
import { refuseSymlinks } from "../runs/regular-file.js";
import { ConflictError, StoreFormatError, type RunConflict } from "./errors.js";
import { entryVersion } from "./heads.js";
import { dropInSync, findInSync, noteInSync, sumRuns } from "./in-sync.js";
import { loadLocalRun, sameState, scanRun, selectLocalRuns, type LocalRun } from "./local-runs.js";
import { addRunHistory, clearPending, RunStates, statePaths, writePending } from "../state/index.js";
import { EMPTY_TREE, forcePart, MAX_PRIOR, mergeRunVersions, type PartMerge, type RunVersion } from "./merge.js";
import { loadRemotePackIndex } from "./pack-index-cache.js";
import { conflictPaths, describeChange, plannedRun, remoteConflictPaths, remoteVersion } from "./plan.js";
import { remoteRunsOf, selectWithSpecs, type RemoteRun } from "./remote-runs.js";
import { checkOnly, closeSession, openSession, RUN_PARTS, type PlannedRun, type Session, type SyncOptions, type SyncProgressEvent, type TransferPlan } from "./session.js";

/**
 * Planning reads every tree a pull will write (to size the preview); writing reads them again.
 * Trees are small and verified when first read, so they are kept.
 */
class TreeCachingReader extends ObjectReader {
  readonly #trees = new Map<string, Tree>();

  override async readTree(id: string): Promise<Tree> {
    const known = this.#trees.get(id);
    if (known !== undefined) return known;
    const tree = await super.readTree(id);
    this.#trees.set(id, tree);
    return tree;
  }

  override async readTrees(ids: Iterable<string>): Promise<Map<string, Tree>> {
    const out = new Map<string, Tree>();
    const missing: string[] = [];
    for (const id of ids) {
      const known = this.#trees.get(id);
      if (known !== undefined) out.set(id, known);
      else missing.push(id);
    }
    if (missing.length > 0) {
      for (const [id, tree] of await super.readTrees(missing)) {
        this.#trees.set(id, tree);
        out.set(id, tree);
      }
    }
    return out;
  }
}

/** Runs written at once by a pull. */
const PULL_CONCURRENCY = 8;

export interface PullResult {
  remote: string;
  runs: PlannedRun[];
  upToDate: number;
  /** Files written (identical files already on disk are not counted) and their bytes. */
  files: number;
  bytes: number;
  /** Runs that diverged and were left as they are here (every other run was pulled). */
  conflicts: RunConflict[];
}

interface PullItem {
  remote: RemoteRun;
  local: LocalRun | undefined;
  /** Trees to write, when they differ from what is on disk. */
  files?: string;
  meta?: string;
  /** `ID.user/` files the local copy lacks. */
  user: Record<string, Uint8Array>;
  /** Trees the local copy will descend from afterwards. */
  history: { files: string[]; meta: string[] };
  planned: PlannedRun;
}

/**
 * Plans a pull: reads the remote's heads (one listing when nothing changed), compares each
 * selected remote run with the local copy (hashed through the stat cache), and returns what
 * would be written. Nothing is written until `execute`. A run that diverged (`force` not set;
 * `force` keeps the local files) is left out and listed in the plan's `conflicts`, with its paths:
 * every other run is still pulled.
 */
export async function planPull(opts: SyncOptions): Promise<TransferPlan<PullResult>> {
  // A pull of every run, whole, sums the live runs up while it opens the remote, as a push does:
  // a run found in sync with the remote (its sums as when last found so, no news since) is up to
  // date without a look at its entries, its history or its files.
  const whole = checkOnly(opts.only).size === RUN_PARTS.length && !opts.runs?.length && opts.where === undefined;
  const liveIds = whole ? (await selectLocalRuns(opts.runsDir, {})).map((r) => r.id) : [];
  const summing = liveIds.length === 0 ? undefined : sumRuns(opts.runsDir, liveIds, { threads: availableParallelism(), nowMs: (opts.now ?? Date.now)() });
  const s = await openSession(opts, true);
  try {
    await removeStaleStaging(opts.runsDir, s.now());
    const summed = await summing;
    const inSync = summed === undefined ? undefined : findInSync(s, liveIds.filter((id) => s.view.runs.has(id)), { prune: true, summed });
    const selected = selectWithSpecs(remoteRunsOf(s.view, opts.runsDir, opts.onWarning, inSync), opts.runs, opts.where);
    const items: PullItem[] = [];
    const conflicts: RunConflict[] = [];
    const remoteOnly = new Set<string>();
    let upToDate = inSync?.size ?? 0;
    let scanned = 0;
    let reader: ObjectReader | undefined;
    const states = RunStates.read(opts.runsDir);
    for (const { run: remote, named } of selected) {
      const paths = remote.paths;
      const live = existsSync(paths.metaDir);
      // A run deleted here stays deleted unless named.
      if (!live && existsSync(paths.deletedMetaDir) && !named) continue;
      // Left out of the rows: holding the remote's version, it may still be ahead of it.
      dropInSync(s, remote.id);
      if (live && remote.entries.length === 1 && holdsVersion(states, remote)) {
        upToDate++;
        continue;
      }
      if (live) scanned++;
      const scan = live ? await scanRun(opts.runsDir, { id: remote.id, deleted: false }, s.cache) : undefined;
      if (scan && remote.entries.length === 1 && sameState(scan, remoteVersion(remote.entries))) {
        noteInSync(s, remote.id, summed?.runs.get(remote.id));
        upToDate++;
        continue;
      }
      const local = scan ? await loadLocalRun(opts.runsDir, scan, s.cache) : undefined;
      const ours = local ? [local.version, ...(local.unfinished ? [local.unfinished] : [])] : [];
      const merged = mergeRunVersions([...ours, ...remote.entries.map(entryVersion)]);
      const resolve = (m: PartMerge, mine: string | undefined): (PartMerge & { conflict: false }) | undefined =>
        !m.conflict ? m : opts.force && mine !== undefined ? forcePart(m, mine) : undefined;
      const files = resolve(merged.run, local?.version.run.tree);
      const meta = resolve(merged.meta, local?.version.meta.tree);
      if (!files || !meta) {
        conflicts.push({ runId: remote.id, paths: local ? await conflictPaths(s, local, merged) : await remoteConflictPaths(s, remote.id, merged) });
        if (!local) remoteOnly.add(remote.id);
        continue;
      }
      const item: PullItem = { remote, local, user: {}, history: { files: [], meta: [] }, planned: plannedRun(remote, "", 0, 0) };
      // The empty tree stands for a part never sent (`--only`): there is nothing to write.
      if (s.only.has("files") && files.tree !== local?.version.run.tree && files.tree !== EMPTY_TREE) item.files = files.tree;
      if (s.only.has("meta") && meta.tree !== local?.version.meta.tree && meta.tree !== EMPTY_TREE) item.meta = meta.tree;
      if (s.only.has("user")) {
        for (const e of remote.entries) {
          for (const [name, bytes] of Object.entries(e.user)) if (!(name in (local?.version.user ?? {}))) item.user[name] ??= bytes;
        }
      }
      // A new run becomes visible only with its meta; without meta there is nothing to show.
      if (!local && item.meta === undefined) continue;
      // The local copy descends from what it had, and from everything the kept or written tree supersedes.
      const keep = (m: PartMerge & { conflict: false }, mine: string | undefined, written: string | undefined) =>
        written !== undefined || m.tree === mine ? [...m.prior, ...(mine ? [mine] : []), ...(written ? [written] : [])] : mine ? [mine] : [];
      item.history = { files: keep(files, local?.version.run.tree, item.files), meta: keep(meta, local?.version.meta.tree, item.meta) };
      if (item.files === undefined && item.meta === undefined && Object.keys(item.user).length === 0) {
        // `--force` kept this side: remember that it supersedes the remote's version, so the next
        // push makes it the remote's.
        if (opts.force) addRunHistory(opts.runsDir, remote.id, item.history, MAX_PRIOR);
        upToDate++;
        continue;
      }
      const target: RunVersion = {
        run: { tree: item.files ?? local?.version.run.tree ?? EMPTY_TREE, prior: [] },
        meta: { tree: item.meta ?? local?.version.meta.tree ?? EMPTY_TREE, prior: [] },
        user: { ...(local?.version.user ?? {}), ...Object.fromEntries(Object.keys(item.user).map((n) => [n, n])) },
      };
      item.planned = plannedRun(remote, describeChange(target, local?.version), Object.keys(item.user).length, 0);
      refuseSymlinks([paths.runDir, paths.metaDir, paths.userDir]);
      items.push(item);
    }
    const roots = items.flatMap((i) => [i.files, i.meta].filter((t): t is string => t !== undefined));
    if (roots.length > 0) {
      reader = new TreeCachingReader(s.remote.storage, await loadRemotePackIndex(s));
      const sizes = await treeSizes(reader, roots);
      await checkMetaIds(reader, items.flatMap((i) => (i.meta === undefined ? [] : [{ runId: i.remote.id, meta: i.meta }])));
      for (const item of items) {
        for (const t of [item.files, item.meta]) {
          if (t === undefined) continue;
          item.planned.files += sizes.get(t)!.files;
          item.planned.bytes += sizes.get(t)!.bytes;
        }
      }
    }
    return {
      remote: s.remote.url,
      runs: items.map((i) => i.planned),
      upToDate,
      scanned,
      ...(conflicts.length === 0 ? {} : { conflicts: pullConflicts(conflicts, remoteOnly) }),
      execute: (onProgress) => executePull(s, items, upToDate, reader, conflicts, onProgress ?? opts.onProgress),
      close: () => closeSession(s, true),
    };
  } catch (err) {
    await closeSession(s, false);
    throw err;
  }
}

/**
 * True when the local copy already has (or descends from) the remote's only version of a run: its
 * trees are in the run's recorded history and its user log entries are all here. Then a pull has
 * nothing to write whatever changed locally (local changes only make this side ahead), so the
 * run is not scanned: no-change pulls cost no walk of the runs' files. An interrupted pull's run
 * is always scanned.
 */
function holdsVersion(states: RunStates, remote: RemoteRun): boolean {
  if (states.pending(remote.id)) return false;
  const history = states.history(remote.id);
  const entry = remote.entries[0]!;
  if (!history || !history.files.includes(entry.run.tree) || !history.meta.includes(entry.meta.tree)) return false;
  const names = Object.keys(entry.user);
  if (names.length === 0) return true;
  const here = new Set(existsSync(remote.paths.userDir) ? readdirSync(remote.paths.userDir) : []);
  return names.every((n) => here.has(n));
}

/** Gage's `id` files are a UUID; anything longer is not one. */
const MAX_ID_FILE_BYTES = 256;

/**
 * Refuses meta whose `id` file names another run than the head that brought it: the run's
 * folder name is its identity, and a meta saying otherwise is hostile or damaged. The `id` files
 * of all runs are read in one batch (neighbours in one request), not a round trip per run.
 * @throws StoreFormatError when an `id` file says another id.
 */
async function checkMetaIds(reader: ObjectReader, runs: ReadonlyArray<{ runId: string; meta: string }>): Promise<void> {
  const refuse = (runId: string, says: string | undefined) =>
    new StoreFormatError(`${runId}.meta/id`, `Run ${runId} on the remote has meta whose id file says ${says === undefined ? "something else" : JSON.stringify(says)}; refusing to pull it`, {
      hint: "The remote holds a hostile or damaged run: nothing was written. Ask whoever pushed it to push it again from a good copy.",
    });
  const runsOfBlob = new Map<string, string[]>();
  for (const { runId, meta } of runs) {
    const entry = (await reader.readTree(meta)).entries.find((e) => e.name === "id");
    if (entry === undefined) continue;
    if (entry.kind !== "file" || entry.size > MAX_ID_FILE_BYTES) throw refuse(runId, undefined);
    runsOfBlob.set(entry.id, [...(runsOfBlob.get(entry.id) ?? []), runId]);
  }
  for await (const { id, data } of reader.readMany(runsOfBlob.keys())) {
    const says = data.toString("utf8").trim();
    for (const runId of runsOfBlob.get(id)!) if (says !== runId) throw refuse(runId, says);
  }
}

/**
 * Files and bytes under each of `roots`: every tree read level by level, each level in one
 * batch of ranged reads (a tree at a time cost a clone of 2,000 runs five seconds of waiting).
 */
async function treeSizes(reader: ObjectReader, roots: readonly string[]): Promise<Map<string, { files: number; bytes: number }>> {
  const trees = new Map<string, Tree>();
  let level = [...new Set(roots)];
  for (let depth = 0; level.length > 0; depth++) {
    // Sizes are summed once per distinct tree, so only depth needs a bound here (materialize
    // counts entries and paths as it expands each run's trees).
    new TreeBudget(level[0]!).depth(depth);
    const read = await reader.readTrees(level);
    for (const [id, tree] of read) trees.set(id, tree);
    const below = new Set<string>();
    for (const tree of read.values()) for (const e of tree.entries) if (e.kind === "dir" && !trees.has(e.id)) below.add(e.id);
    level = [...below];
  }
  const sizes = new Map<string, { files: number; bytes: number }>();
  const size = (id: string): { files: number; bytes: number } => {
    let s = sizes.get(id);
    if (s !== undefined) return s;
    s = { files: 0, bytes: 0 };
    for (const e of trees.get(id)!.entries) {
      const part = e.kind === "dir" ? size(e.id) : { files: 1, bytes: e.size };
      s.files += part.files;
      s.bytes += part.bytes;
    }
    sizes.set(id, s);
    return s;
  };
  for (const root of roots) size(root);
  return sizes;
}

async function executePull(
  s: Session,
  items: PullItem[],
  upToDate: number,
  reader: ObjectReader | undefined,
  conflicts: RunConflict[],
  onProgress: ((e: SyncProgressEvent) => void) | undefined,
): Promise<PullResult> {
  const result: PullResult = { remote: s.remote.url, runs: items.map((i) => i.planned), upToDate, files: 0, bytes: 0, conflicts };
  try {
    onProgress?.({ phase: "download", files: 0, bytes: 0, total: { files: items.reduce((n, i) => n + i.planned.files, 0), bytes: items.reduce((n, i) => n + i.planned.bytes, 0) } });
    const write = async (tree: string, dir: string) => {
      let last = { files: 0, bytes: 0 };
      const onFile = (p: { files: number; bytes: number }) => {
        onProgress?.({ phase: "download", files: p.files - last.files, bytes: p.bytes - last.bytes });
        last = p;
      };
      const stats = await materializeTree(reader!, tree, dir, { cache: s.cache, onProgress: onFile });
      result.files += stats.written;
      result.bytes += stats.bytesWritten;
    };
    const pullOne = async (item: PullItem) => {
      if (item.local) {
        if (item.files !== undefined || item.meta !== undefined) {
          writePending(s.runsDir, item.remote.id, { ...(item.files ? { files: item.files } : {}), ...(item.meta ? { meta: item.meta } : {}) });
        }
        await updateRun(reader, item, write);
      } else await addRun(s.runsDir, item, write);
      addRunHistory(s.runsDir, item.remote.id, item.history, MAX_PRIOR);
      clearPending(s.runsDir, item.remote.id);
    };
    // Runs are written side by side: each file waits on its own fsync, so one at a time leaves the
    // disk idle. After a failure no further run is started, and the ones under way finish first.
    const limit = pLimit(PULL_CONCURRENCY);
    let failure: { err: unknown } | undefined;
    await Promise.all(
      items.map((item) =>
        limit(async () => {
          if (failure) return;
          try {
            await pullOne(item);
          } catch (err) {
            failure ??= { err };
          }
        }),
      ),
    );
    if (failure) throw failure.err;
    return result;
  } finally {
    await closeSession(s, true);
  }
}

type WriteTree = (tree: string, dir: string) => Promise<void>;

/** A run new here: everything is written in a staging folder first, its meta renamed in last. */
async function addRun(runsDir: string, item: PullItem, write: WriteTree): Promise<void> {
  const paths = item.remote.paths;
  const staging = join(statePaths.staging(runsDir), `${item.remote.id}-${randomBytes(6).toString("hex")}`);
  await mkdir(staging, { recursive: true });
  try {
    const stagedFiles = join(staging, "files");
    if (item.files !== undefined && !existsSync(paths.runDir)) await write(item.files, stagedFiles);
    else await mkdir(stagedFiles);
    await write(item.meta!, join(staging, "meta"));
    await writeUserEntries(join(staging, "user"), item.user);
    // Staged and verified: now it goes into place, meta last.
    if (!existsSync(paths.runDir)) await rename(stagedFiles, paths.runDir);
    else if (item.files !== undefined) await write(item.files, paths.runDir);
    await moveUserEntries(join(staging, "user"), paths.userDir, Object.keys(item.user));
    await rename(join(staging, "meta"), paths.metaDir);
  } finally {
    await removeTree(staging);
  }
}

/** A run already here: trees fast-forward in place (each file renamed into place), meta last. */
async function updateRun(reader: ObjectReader | undefined, item: PullItem, write: WriteTree): Promise<void> {
  const paths = item.remote.paths;
  if (item.files !== undefined) {
    await write(item.files, paths.runDir);
    await pruneToTree(reader!, item.files, paths.runDir);
  }
  if (Object.keys(item.user).length > 0) {
    await mkdir(paths.userDir, { recursive: true });
    for (const [name, bytes] of Object.entries(item.user)) {
      if (!existsSync(join(paths.userDir, name))) await writeFileAtomic(join(paths.userDir, name), bytes, 0o444);
    }
  }
  if (item.meta !== undefined) {
    await write(item.meta, paths.metaDir);
    await pruneToTree(reader!, item.meta, paths.metaDir);
  }
}

async function writeUserEntries(dir: string, user: Record<string, Uint8Array>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(user)) await writeFileAtomic(join(dir, name), bytes, 0o444);
}

/** User log files are never replaced: an entry already here stays as it is. */
async function moveUserEntries(from: string, to: string, names: string[]): Promise<void> {
  if (names.length === 0) return;
  await mkdir(to, { recursive: true });
  for (const name of names) if (!existsSync(join(to, name))) await rename(join(from, name), join(to, name));
}

/**
 * Removes what a fast-forwarded tree no longer has (e.g. `proc/lock` of a run that finished on
 * the other side). Only inside the run's own folders, never following symlinks.
 */
export async function pruneToTree(reader: ObjectReader, treeId: string, dir: string): Promise<void> {
  const tree = await reader.readTree(treeId);
  const byName = new Map(tree.entries.map((e) => [e.name, e]));
  for (const name of namesIn(dir)) {
    const path = join(dir, name);
    const entry = byName.get(name);
    const st = lstatSync(osPath(path));
    if (entry?.kind === "dir" && st.isDirectory()) {
      await pruneToTree(reader, entry.id, path);
    } else if (entry === undefined || (entry.kind === "dir") !== st.isDirectory()) {
      const mode = lstatSync(osPath(dir)).mode;
      if ((mode & 0o200) === 0) chmodSync(osPath(dir), mode | 0o200);
      await removeTree(path);
      if ((mode & 0o200) === 0) chmodSync(osPath(dir), mode);
    }
  }
}

/** Staging folders a killed pull left behind (an hour old: no pull still running uses them). */
export async function removeStaleStaging(runsDir: string, nowMs: number): Promise<void> {
  const dir = statePaths.staging(runsDir);
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (nowMs - lstatSync(path).mtimeMs > 3_600_000) await removeTree(path);
  }
}

/** Removes a folder that may hold read-only folders. */
export async function removeTree(path: string): Promise<void> {
  if (!existsSync(osPath(path))) return;
  const makeWritable = (p: string) => {
    const st = lstatSync(osPath(p));
    if (!st.isDirectory()) return;
    chmodSync(osPath(p), st.mode | 0o700);
    for (const name of namesIn(p)) makeWritable(join(p, name));
  };
  makeWritable(path);
  await rm(osPath(path), { recursive: true, force: true });
}

/** A folder's names, exactly (one that is not UTF-8 escaped as `decodeName` does). */
function namesIn(dir: string): string[] {
  return readdirSync(osPath(dir), { encoding: "buffer" }).map(decodeName);
}

/**
 * The diverged runs of a pull, as the error that reports them. A run with no copy here (a
 * clone) cannot be settled by `--force`: one of its writers pushes theirs with `--force`.
 */
export function pullConflicts(conflicts: RunConflict[], remoteOnly: ReadonlySet<string>): ConflictError {
  if (!conflicts.every((c) => remoteOnly.has(c.runId))) return new ConflictError(conflicts);
  const which = conflicts.length === 1 ? "this run" : "these runs";
  return new ConflictError(conflicts, {
    hint: `The remote holds diverged versions of ${which}, pushed by two writers: the writer whose version is to stay runs 'gage push --force REMOTE RUN', then pull again.`,
  });
}

/**
 * Plans and executes a pull in one call.
 * @throws ConflictError after pulling every other run, when runs diverged (`result.conflicts`).
 */
export async function pull(opts: SyncOptions): Promise<PullResult> {
  const plan = await planPull(opts);
  const result = await plan.execute();
  if (plan.conflicts) throw plan.conflicts;
  return result;
}
