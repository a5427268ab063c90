import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import pLimit from "p-limit";
import { decodeAs, decodeName, decodeTimes, decodeTree, hashBytes, materializeTree, materializeTrees, ObjectReader, osPath, syncFs, TreeBudget, writeStaged, type FileTimes, type MaterializeJob, type MaterializeStats, type PackIndex, type Tree, type WrittenFiles } from "../objects/index.js";
import { RACY_MS, WrittenRows } from "../worktree/index.js";
import { GageError } from "../errors.js";
import { writeFileAtomic } from "../runs/atomic-write.js";
import { refuseSymlinks } from "../runs/regular-file.js";
import { ConflictError, StoreFormatError, type RunConflict } from "./errors.js";
import { entryVersion, timesFor } from "./heads.js";
import { dropInSync, findInSync, noteInSync, sumRuns, sumStagedRuns, type RunSums } from "./in-sync.js";
import { loadLocalRun, sameState, scanRun, selectLocalRuns, type LocalRun } from "./local-runs.js";
import { addRunHistory, clearPending, RunStates, statePaths, writePending } from "../state/index.js";
import { EMPTY_TREE, forcePart, MAX_PRIOR, mergeRunVersions, type PartMerge, type RunVersion } from "./merge.js";
import { unionOfHints } from "./head-entry.js";
import { loadHintedPackIndex, loadRemotePackIndex } from "./pack-index-cache.js";
import { conflictPaths, describeChange, plannedRun, remoteConflictPaths, remoteVersion } from "./plan.js";
import { loadSelected, remoteRunsOf, selectWithSpecs, type RemoteRun } from "./remote-runs.js";
import { gitRemoteSpec } from "./remote.js";
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
    return this.readTreesWith(ids, [], new Map());
  }

  /** `readTrees`, with objects `blobs` read in the same pass (neighbours share reads) into `into`. */
  async readTreesWith(ids: Iterable<string>, blobs: readonly string[], into: Map<string, Buffer>): Promise<Map<string, Tree>> {
    const out = new Map<string, Tree>();
    const missing = new Set<string>();
    for (const id of ids) {
      const known = this.#trees.get(id);
      if (known !== undefined) out.set(id, known);
      else missing.add(id);
    }
    if (missing.size === 0 && blobs.length === 0) return out;
    const wanted = new Set(blobs);
    for await (const { id, data } of this.readMany([...missing, ...blobs])) {
      if (missing.has(id)) {
        const tree = decodeAs(id, data, decodeTree);
        this.#trees.set(id, tree);
        out.set(id, tree);
      }
      // An object both a tree and a blob is wanted as: kept as both.
      if (wanted.has(id)) into.set(id, data);
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
 * every other run is still pulled. A Git remote is pulled from its branch (src/sync/git).
 */
export async function planPull(opts: SyncOptions): Promise<TransferPlan<PullResult>> {
  const git = await gitRemoteSpec(opts);
  if (git !== undefined) return (await import("./git/pull.js")).planGitPull(opts, git);
  // A pull of every run, whole, sums the live runs up while it opens the remote, as a push does:
  // a run found in sync with the remote (its sums as when last found so, no news since) is up to
  // date without a look at its entries, its history or its files.
  const whole = checkOnly(opts.only).size === RUN_PARTS.length && !opts.runs?.length && opts.where === undefined;
  const liveIds = whole ? (await selectLocalRuns(opts.runsDir, {})).map((r) => r.id) : [];
  const summing = liveIds.length === 0 ? undefined : sumRuns(opts.runsDir, liveIds, { threads: availableParallelism(), nowMs: (opts.now ?? Date.now)(), started: opts.startedSums });
  const s = await openSession(opts, true);
  try {
    await removeStaleStaging(opts.runsDir, s.now());
    const summed = await summing;
    const inSync = summed === undefined ? undefined : findInSync(s, liveIds.filter((id) => s.view.runs.has(id)), { prune: true, summed });
    // A whole pull into a folder without runs (a clone): the runs it writes are its only rows.
    if (whole && liveIds.length === 0) s.inSync = { rows: new Map(), changed: false };
    // Runs named by id or id prefix are looked up by id: the remote's other runs are not read.
    const named = await loadSelected(s.view, s.remote.storage, opts.runs, opts.where);
    const selected = selectWithSpecs(remoteRunsOf(s.view, opts.runsDir, opts.onWarning, inSync, named), opts.runs, opts.where);
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
      const { index, rest } = await loadPullIndex(s, items);
      const trees = new TreeCachingReader(s.remote.storage, index, rest === undefined ? {} : { whenMissing: rest });
      reader = trees;
      const metas = items.flatMap((i) => (i.meta === undefined ? [] : [{ runId: i.remote.id, meta: i.meta }]));
      const metaIds = new Set(metas.map((m) => m.meta));
      // Each meta's `id` file is read with the trees below the meta (neighbours in the packs).
      const { sizes, blobs, leaves } = await treeSizes(trees, roots, (tree, id) => (metaIds.has(id) ? idFileOf(tree) : undefined));
      // An object the hinted packs lack (a push found it in an older pack) brings in every index,
      // here, before anything is written.
      await trees.ensure(leaves);
      await checkMetaIds(reader, metas, blobs);
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
async function checkMetaIds(reader: ObjectReader, runs: ReadonlyArray<{ runId: string; meta: string }>, read: ReadonlyMap<string, Buffer>): Promise<void> {
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
  const check = (id: string, data: Buffer) => {
    const says = data.toString("utf8").trim();
    for (const runId of runsOfBlob.get(id)!) if (says !== runId) throw refuse(runId, says);
  };
  for (const id of runsOfBlob.keys()) if (read.has(id)) check(id, read.get(id)!);
  for await (const { id, data } of reader.readMany([...runsOfBlob.keys()].filter((id) => !read.has(id)))) check(id, data);
}

/** A meta tree's `id` file, when it is a file small enough to be one. */
function idFileOf(tree: Tree): string | undefined {
  const entry = tree.entries.find((e) => e.name === "id");
  return entry?.kind === "file" && entry.size <= MAX_ID_FILE_BYTES ? entry.id : undefined;
}

/**
 * Files and bytes under each of `roots`: every tree read level by level, each level in one
 * batch of ranged reads (a tree at a time cost a clone of 2,000 runs five seconds of waiting).
 * `blobOf` names an object to read with the level below a tree (returned in `blobs`, verified).
 */
async function treeSizes(
  reader: TreeCachingReader,
  roots: readonly string[],
  blobOf: (tree: Tree, id: string) => string | undefined,
): Promise<{ sizes: Map<string, { files: number; bytes: number }>; blobs: Map<string, Buffer>; leaves: string[] }> {
  const trees = new Map<string, Tree>();
  const blobs = new Map<string, Buffer>();
  let level = [...new Set(roots)];
  let extra: string[] = [];
  for (let depth = 0; level.length > 0 || extra.length > 0; depth++) {
    // Sizes are summed once per distinct tree, so only depth needs a bound here (materialize
    // counts entries and paths as it expands each run's trees).
    if (level.length > 0) new TreeBudget(level[0]!).depth(depth);
    const read = await reader.readTreesWith(level, extra, blobs);
    for (const [id, tree] of read) trees.set(id, tree);
    const below = new Set<string>();
    extra = [];
    for (const [id, tree] of read) {
      for (const e of tree.entries) if (e.kind === "dir" && !trees.has(e.id)) below.add(e.id);
      const blob = blobOf(tree, id);
      if (blob !== undefined && !blobs.has(blob)) extra.push(blob);
    }
    level = [...below];
  }
  const leaves: string[] = [];
  for (const tree of trees.values()) for (const e of tree.entries) if (e.kind !== "dir") leaves.push(e.chunks ?? e.id);
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
  return { sizes, blobs, leaves };
}

/**
 * The remote's pack indexes a pull needs: those of the packs its runs' entries hint at (every
 * other one only if an object is not there: `rest`), or all of them when a run has no hints.
 */
async function loadPullIndex(s: Session, items: readonly PullItem[]): Promise<{ index: PackIndex; rest?: () => Promise<void> }> {
  const packs = new Set<string>();
  for (const item of items) {
    const hints = unionOfHints(item.remote.entries.map((e) => e.packs)).packs;
    if (hints === undefined) return { index: await loadRemotePackIndex(s) };
    for (const p of hints) packs.add(p);
  }
  return loadHintedPackIndex(s, packs);
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
    const write: WriteTree = async (tree, dir) => {
      let last = { files: 0, bytes: 0 };
      const onFile = (p: { files: number; bytes: number }) => {
        onProgress?.({ phase: "download", files: p.files - last.files, bytes: p.bytes - last.bytes });
        last = p;
      };
      const stats = await materializeTree(reader!, tree, dir, { cache: s.cache, onProgress: onFile });
      result.files += stats.written;
      result.bytes += stats.bytesWritten;
    };
    // Runs are written side by side: reads of one overlap the writes of another. After a failure
    // no further run is started, and the ones under way finish first.
    const limit = pLimit(PULL_CONCURRENCY);
    let failure: { err: unknown } | undefined;
    const each = async (list: PullItem[], one: (item: PullItem) => Promise<void>) => {
      await Promise.all(
        list.map((item) =>
          limit(async () => {
            if (failure) return;
            try {
              await one(item);
            } catch (err) {
              failure ??= { err };
            }
          }),
        ),
      );
    };
    const fresh = items.filter((i) => !i.local);
    // New runs, a batch at a time: staged (their objects read in one pass), made durable
    // together, then made visible. The next batch is staged meanwhile: its planning here
    // overlaps this one's writes on the addon's threads, its writes this one's publishing.
    const stage = (at: number) => {
      const staged = at < fresh.length ? stageRuns(s, reader, fresh.slice(at, at + PUBLISH_BATCH), onProgress) : undefined;
      staged?.catch(() => undefined);
      return staged;
    };
    let next = stage(0);
    for (let at = 0; next !== undefined; at += PUBLISH_BATCH) {
      const current = next;
      next = stage(at + PUBLISH_BATCH);
      try {
        const batch = await current;
        result.files += batch.stats.written;
        result.bytes += batch.stats.bytesWritten;
        await publish(s, batch.runs, write);
      } catch (err) {
        // A batch staged ahead is not made visible: its staging folders go.
        const ahead = await next?.catch(() => undefined);
        for (const run of ahead?.runs ?? []) await removeTree(run.staging);
        throw err;
      }
    }
    await each(
      items.filter((i) => i.local),
      async (item) => {
        if (item.files !== undefined || item.meta !== undefined) {
          writePending(s.runsDir, item.remote.id, { ...(item.files ? { files: item.files } : {}), ...(item.meta ? { meta: item.meta } : {}) });
        }
        await updateRun(reader, item, write);
        addRunHistory(s.runsDir, item.remote.id, item.history, MAX_PRIOR);
        clearPending(s.runsDir, item.remote.id);
      },
    );
    if (failure) throw failure.err;
    return result;
  } finally {
    await closeSession(s, true);
  }
}

type WriteTree = (tree: string, dir: string) => Promise<void>;

/** New runs made durable and visible together (one sync of the filesystem for them all). */
const PUBLISH_BATCH = 256;

/** A new run written in its staging folder, not yet visible. */
interface StagedRun {
  item: PullItem;
  staging: string;
  /** Stat cache rows of what was written, by the path each file will have. */
  rows: WrittenRows;
  /** Its folders as they will be once moved into place, to sum up (none when one is written in place). */
  sumAs?: [string, string, string];
  /** Its sums, noted as in sync once it is in place. */
  inSync?: RunSums;
}

interface RunTimes {
  run?: FileTimes;
  meta?: FileTimes;
  user?: Record<string, number>;
}

/**
 * The times of the trees a pull writes for each of `items`, their objects read in one pass; a run
 * whose times are absent or damaged has none (times are hints).
 */
async function loadTimes(reader: ObjectReader, items: readonly PullItem[]): Promise<Map<PullItem, RunTimes>> {
  const ids = new Map(items.map((item) => [item, timesFor(item.remote.entries, { run: item.files ?? "", meta: item.meta ?? "" })]));
  const named = [...ids.values()].flatMap((t) => [t?.run, t?.meta]).filter((id): id is string => id !== undefined);
  await reader.ensure(named);
  const wanted = named.filter((id) => reader.index.get(id) !== undefined);
  const decoded = new Map<string, FileTimes>();
  try {
    for await (const { id, data } of reader.readMany(wanted)) {
      try {
        decoded.set(id, decodeTimes(data));
      } catch (err) {
        if (!(err instanceof GageError)) throw err;
      }
    }
  } catch (err) {
    if (!(err instanceof GageError)) throw err;
  }
  const out = new Map<PullItem, RunTimes>();
  for (const [item, t] of ids) {
    const run = t?.run === undefined ? undefined : decoded.get(t.run);
    const meta = t?.meta === undefined ? undefined : decoded.get(t.meta);
    out.set(item, { ...(run ? { run } : {}), ...(meta ? { meta } : {}), ...(t?.user ? { user: t.user } : {}) });
  }
  return out;
}

/**
 * Runs new here, each written in a staging folder with its recorded times; nothing is synced or
 * visible yet. Without the addon's syncfs each file is synced as it is written.
 */
async function stageRuns(
  s: Session,
  reader: ObjectReader | undefined,
  items: readonly PullItem[],
  onProgress: ((e: SyncProgressEvent) => void) | undefined,
): Promise<{ runs: StagedRun[]; stats: MaterializeStats }> {
  const fsync = syncFs === undefined;
  const runs: StagedRun[] = [];
  const jobs: MaterializeJob[] = [];
  const timesOf = reader === undefined ? new Map<PullItem, RunTimes>() : await loadTimes(reader, items);
  try {
    for (const item of items) {
      const paths = item.remote.paths;
      const staging = join(statePaths.staging(s.runsDir), `${item.remote.id}-${randomBytes(6).toString("hex")}`);
      const times = timesOf.get(item) ?? {};
      const run: StagedRun = { item, staging, rows: new WrittenRows() };
      runs.push(run);
      const rowsUnder = (finalDir: string): WrittenFiles => ({ note: (rel, ...row) => run.rows.add(finalDir, rel, ...row) });
      // Synchronous: a folder's creation is quick, and a round trip through the thread pool per
      // call cost each run more than the call.
      mkdirSync(staging, { recursive: true });
      const stagedFiles = join(staging, "files");
      const names = Object.keys(item.user);
      if (!existsSync(paths.runDir) && (names.length === 0 || !existsSync(paths.userDir))) {
        run.sumAs = [stagedFiles, join(staging, "meta"), join(staging, names.length === 0 ? "no-user" : "user")];
      }
      if (item.files !== undefined && !existsSync(paths.runDir)) jobs.push({ tree: item.files, destDir: stagedFiles, ...(times.run ? { times: times.run } : {}), written: rowsUnder(paths.runDir) });
      else mkdirSync(stagedFiles);
      jobs.push({ tree: item.meta!, destDir: join(staging, "meta"), ...(times.meta ? { times: times.meta } : {}), written: rowsUnder(paths.metaDir) });
      const userDir = join(staging, "user");
      mkdirSync(userDir);
      for (const [name, bytes] of Object.entries(item.user)) {
        const stamp = writeStaged(join(userDir, name), 0o444, fsync, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), times.user?.[name], true);
        run.rows.add(paths.userDir, name, stamp.size, stamp.mtimeMs, stamp.ctimeMs, stamp.ino, hashBytes(bytes));
      }
    }
    let last = { files: 0, bytes: 0 };
    const onFile = (p: { files: number; bytes: number }) => {
      onProgress?.({ phase: "download", files: p.files - last.files, bytes: p.bytes - last.bytes });
      last = p;
    };
    const stats = await materializeTrees(reader!, jobs, { staged: true, fsync, onProgress: onFile });
    await noteStagedInSync(s, runs);
    return { runs, stats };
  } catch (err) {
    for (const run of runs) await removeTree(run.staging);
    throw err;
  }
}

/**
 * Runs staged whole are in sync with the remote once moved into place: their folders are summed
 * up here, while only this process knows them, so the first push after a clone finds each with
 * one sum. Only runs whose every file got a recorded time older than the racy window: a later
 * write gives a file a new time, which changes the sum (files stamped now could change unseen
 * within their clock tick).
 */
async function noteStagedInSync(s: Session, runs: readonly StagedRun[]): Promise<void> {
  if (s.inSync === undefined) return;
  const whole = runs.filter((r) => r.sumAs !== undefined);
  const sums = await sumStagedRuns(whole.map((r) => r.sumAs!), availableParallelism());
  if (sums === undefined) return;
  const settledBefore = s.now() - RACY_MS;
  whole.forEach((r, k) => {
    const sum = sums[k]!;
    const settled = sum.files === r.rows.count && r.rows.newestMtimeMs < settledBefore;
    r.inSync = { ...sum, settled };
  });
}

/**
 * Makes staged runs visible: their files durable first (one syncfs), then each moved into place,
 * meta last. The stat cache learns every file written, so the next push reads none of them.
 */
async function publish(s: Session, staged: readonly StagedRun[], write: WriteTree): Promise<void> {
  if (staged.length === 0) return;
  syncFs?.(s.runsDir);
  // A new run has a pending mark only when a killed pull left one: one listing tells which.
  const states = RunStates.read(s.runsDir);
  for (const { item, staging, rows, inSync } of staged) {
    const paths = item.remote.paths;
    // Renames are synchronous, as the staging folders' creation is.
    try {
      // A pull killed between the two renames left `ID/` without its meta: written into in place.
      if (!existsSync(paths.runDir)) renameSync(join(staging, "files"), paths.runDir);
      else if (item.files !== undefined) await write(item.files, paths.runDir);
      // The folder moves whole when it can: a file renamed on its own takes a new change time.
      const names = Object.keys(item.user);
      if (names.length > 0 && !existsSync(paths.userDir)) renameSync(join(staging, "user"), paths.userDir);
      else moveUserEntries(join(staging, "user"), paths.userDir, names);
      renameSync(join(staging, "meta"), paths.metaDir);
    } finally {
      await removeStaging(staging);
    }
    s.cache.recordWrittenRows(rows.rows());
    if (inSync !== undefined) noteInSync(s, item.remote.id, inSync);
    addRunHistory(s.runsDir, item.remote.id, item.history, MAX_PRIOR);
    if (states.pending(item.remote.id)) clearPending(s.runsDir, item.remote.id);
  }
}

/** A staging folder once its runs moved out: at most an empty `user/` is left (anything else, removed whole). */
async function removeStaging(staging: string): Promise<void> {
  try {
    for (const name of readdirSync(staging)) rmdirSync(join(staging, name));
    rmdirSync(staging);
  } catch {
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

/** User log files are never replaced: an entry already here stays as it is. */
function moveUserEntries(from: string, to: string, names: string[]): void {
  if (names.length === 0) return;
  mkdirSync(to, { recursive: true });
  for (const name of names) if (!existsSync(join(to, name))) renameSync(join(from, name), join(to, name));
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
  rmSync(osPath(path), { recursive: true, force: true });
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
