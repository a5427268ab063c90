import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, rmdirSync } from "node:fs";
import { mkdir, rename } from "node:fs/promises";
import { join } from "node:path";
import { hashBytes, materializeTree, materializeTrees, syncFs, writeStaged, type CachedIds, type FileStamp, type MaterializeJob } from "../../objects/index.js";
import { StatCache } from "../../worktree/index.js";
import type { GitRemoteSpec } from "../../remotes/config.js";
import type { GitOid } from "../../remotes/git/objects.js";
import { writeFileAtomic } from "../../runs/atomic-write.js";
import { sortRuns } from "../../runs/run.js";
import { ConflictError, type RunConflict } from "../errors.js";
import { scanRun } from "../local-runs.js";
import { statePaths } from "../../state/index.js";
import { plannedRun } from "../plan.js";
import { pruneToTree, removeStaleStaging, removeTree, type PullResult } from "../pull.js";
import { selectWithSpecs } from "../remote-runs.js";
import { checkOnly, type PlannedRun, type SyncOptions, type SyncProgressEvent, type TransferPlan } from "../session.js";
import { readUserTree } from "./branch.js";
import { localTreeOid } from "./local.js";
import { decidePart, type PartDecision } from "./merge.js";
import { mergeObjects } from "./merge-folder.js";
import { GitTreeReader } from "./reader.js";
import { isFinished, readGitRemoteRun, type GitRemoteRun } from "./runs.js";
import { closeGitSession, openGitSession, type GitSession } from "./session.js";

interface GitPullItem {
  run: GitRemoteRun;
  /** The run is new here: written in a staging folder, its meta renamed in last. */
  fresh: boolean;
  /**
   * Our ids of the translated trees to write, with the Git trees they come from and the branch's
   * tree (the base of the next merge: `oid` itself, unless a merge of both sides' files).
   */
  files?: { id: string; oid: GitOid; synced: GitOid };
  meta?: { id: string; oid: GitOid; synced: GitOid };
  /** `ID.user/` entries this side lacks: name → blob. */
  user: Map<string, GitOid>;
  planned: PlannedRun;
}

/** The remote's runs, newest first, as `gage ls --remote` lists them. */
export async function readGitRemoteRuns(s: GitSession, onWarning?: (msg: string) => void): Promise<GitRemoteRun[]> {
  const runs: GitRemoteRun[] = [];
  for (const run of s.branch.runs.values()) {
    const read = await readGitRemoteRun(s.repo.objects, run, s.runsDir, onWarning);
    if (read !== undefined) runs.push(read);
  }
  return sortRuns(runs) as GitRemoteRun[];
}

/**
 * Plans a pull from a Git remote: fetches the branch (only new objects), merges each selected run
 * with the local copy (see `decidePart`; a folder both sides changed file by file, `mergeTrees`;
 * user entries by union) and reads every tree and file it will write, each checked before
 * anything touches the disk. Nothing is written until `execute`. A run whose files both sides
 * changed differently is left out and listed in the plan's `conflicts` (unless `force`, which keeps
 * this side's version of those files): every other run is still pulled.
 * @throws UnsafePathError for a hostile tree on the branch.
 */
export async function planGitPull(opts: SyncOptions, spec: GitRemoteSpec): Promise<TransferPlan<PullResult>> {
  const only = checkOnly(opts.only);
  const s = await openGitSession(opts, spec);
  try {
    if (existsSync(opts.runsDir)) await removeStaleStaging(opts.runsDir, (opts.now ?? Date.now)());
    const selected = selectWithSpecs(await readGitRemoteRuns(s, opts.onWarning), opts.runs, opts.where);
    const cache = StatCache.loadSync(statePaths.statCache(opts.runsDir));
    const reader = new GitTreeReader(mergeObjects(s), s.lfs, opts.onWarning);
    const items: GitPullItem[] = [];
    const conflicts: RunConflict[] = [];
    let upToDate = 0;
    for (const { run, named } of selected) {
      const paths = run.paths;
      const live = existsSync(paths.metaDir);
      // A run deleted here stays deleted unless named.
      if (!live && existsSync(paths.deletedMetaDir) && !named) continue;
      const scan = live ? await scanRun(opts.runsDir, { id: run.id, deleted: false }, cache) : undefined;
      const base = s.state.synced.get(run.id) ?? {};
      /** Trees that merge both sides' files, written instead of the branch's. */
      const merged: { files?: GitOid; meta?: GitOid } = {};
      const conflicting: string[] = [];
      const part = async (name: "files" | "meta", ours: string | undefined, dir: string): Promise<PartDecision> => {
        if (!only.has(name)) return "same";
        if (ours === undefined) return run.branch[name] === undefined ? "same" : "theirs";
        const oid = await localTreeOid(s.state, cache, ours, dir, s.largeAt);
        const theirs = run.branch[name];
        const d = decidePart(oid, theirs, base[name]);
        if (d === "same") s.state.setSynced(run.id, name, oid);
        if (d !== "conflict") return d;
        const m = await mergeObjects(s).merge(dir, theirs!, base[name], name === "files" ? run.id : `${run.id}.meta`, opts.force ?? false);
        if ("conflicts" in m) {
          conflicting.push(...m.conflicts);
          return "conflict";
        }
        // This side holds their changes already: the branch's tree is the base from now on.
        if (m.oid === oid) {
          s.state.setSynced(run.id, name, theirs!);
          return "ours";
        }
        if (m.oid !== theirs) merged[name] = m.oid;
        return "theirs";
      };
      const files = await part("files", scan?.files, paths.runDir);
      const meta = await part("meta", scan?.meta, paths.metaDir);
      if (conflicting.length > 0) {
        conflicts.push({ runId: run.id, paths: conflicting });
        continue;
      }
      // A new run appears only with its meta: one pulled without (--only files,user) waits.
      if (!live && meta !== "theirs") continue;
      const here = new Set(live && existsSync(paths.userDir) ? readdirSync(paths.userDir) : []);
      const user = new Map<string, GitOid>();
      if (only.has("user")) for (const [name, oid] of await readUserTree(s.repo.objects, run.branch, opts.onWarning)) if (!here.has(name)) user.set(name, oid);
      if (files !== "theirs" && meta !== "theirs" && user.size === 0) {
        upToDate++;
        continue;
      }
      const item: GitPullItem = { run, fresh: !live, user, planned: plannedRun(run, "", user.size, 0) };
      const finished = isFinished(run);
      for (const [name, decision] of [["files", files], ["meta", meta]] as const) {
        const synced = run.branch[name];
        if (decision !== "theirs" || synced === undefined) continue;
        const oid = merged[name] ?? synced;
        // Gage leaves meta files read-only always, a run's own files once it finished.
        const t = await reader.translate(oid, name === "files" ? run.id : `${run.id}.meta`, name === "meta" || finished, !live);
        item[name] = { id: t.id, oid, synced };
        item.planned.files += t.files;
        item.planned.bytes += t.bytes;
      }
      item.planned.what = item.fresh ? "new" : [item.files ? "files" : "", item.meta ? "meta" : "", user.size > 0 ? `user +${user.size}` : ""].filter(Boolean).join(", ");
      items.push(item);
    }
    return {
      remote: s.spec.url,
      runs: items.map((i) => i.planned),
      upToDate,
      scanned: selected.length,
      ...(conflicts.length > 0 ? { conflicts: new ConflictError(conflicts) } : {}),
      execute: (onProgress) => executeGitPull(s, items, upToDate, conflicts, reader, cache, onProgress ?? opts.onProgress),
      close: () => closeGitSession(s, true),
    };
  } catch (err) {
    await closeGitSession(s, false);
    throw err;
  }
}

async function executeGitPull(
  s: GitSession,
  items: GitPullItem[],
  upToDate: number,
  conflicts: RunConflict[],
  reader: GitTreeReader,
  cache: StatCache,
  onProgress: ((e: SyncProgressEvent) => void) | undefined,
): Promise<PullResult> {
  const result: PullResult = { remote: s.spec.url, runs: items.map((i) => i.planned), upToDate, files: 0, bytes: 0, conflicts };
  try {
    onProgress?.({ phase: "download", files: 0, bytes: 0, total: { files: items.reduce((n, i) => n + i.planned.files, 0), bytes: items.reduce((n, i) => n + i.planned.bytes, 0) } });
    let last = { files: 0, bytes: 0 };
    const onFile = (p: { files: number; bytes: number }) => {
      onProgress?.({ phase: "download", files: p.files - last.files, bytes: p.bytes - last.bytes });
      last = p;
    };
    const write = async (tree: string, dir: string) => {
      last = { files: 0, bytes: 0 };
      const stats = await materializeTree(reader, tree, dir, { cache, onProgress: onFile });
      result.files += stats.written;
      result.bytes += stats.bytesWritten;
    };
    const fresh = items.filter((i) => i.fresh);
    for (let at = 0; at < fresh.length; at += PUBLISH_BATCH) {
      last = { files: 0, bytes: 0 };
      await addRuns(s, fresh.slice(at, at + PUBLISH_BATCH), reader, cache, result, onFile, write);
    }
    for (const item of items.filter((i) => !i.fresh)) {
      const user = new Map<string, Buffer>();
      for (const [name, oid] of item.user) user.set(name, await s.repo.objects.read(oid, "blob", `${item.run.id}.user/${name}`));
      await updateRun(item, user, reader, write);
      noteSynced(s, item, reader);
    }
    if (cache.dirty) await cache.save(statePaths.statCache(s.runsDir));
    return result;
  } finally {
    await closeGitSession(s, true);
  }
}

function noteSynced(s: GitSession, item: GitPullItem, reader: GitTreeReader): void {
  for (const part of ["files", "meta"] as const) {
    const t = item[part];
    if (t === undefined) continue;
    s.state.setSynced(item.run.id, part, t.synced);
    const ours = reader.realTreeId(t.id);
    if (ours !== undefined) s.state.noteTree(ours, s.largeAt, t.oid);
  }
}

type WriteTree = (tree: string, dir: string) => Promise<void>;

/** New runs made durable and visible together (one sync of the filesystem for them all). */
const PUBLISH_BATCH = 256;

/**
 * Runs new here, as a pull of the store writes them: each in a staging folder (files written
 * under their own names on the addon's threads, straight from their pack entries, each inflated,
 * checked against its Git id and hashed there),
 * made durable together (one syncfs; without the addon each file is synced), then each moved into
 * place, its meta last. The stat cache learns every file written, so the next push reads none.
 */
async function addRuns(
  s: GitSession,
  items: readonly GitPullItem[],
  reader: GitTreeReader,
  cache: StatCache,
  result: PullResult,
  onFile: (p: { files: number; bytes: number }) => void,
  write: WriteTree,
): Promise<void> {
  const fsync = syncFs === undefined;
  const staged: StagedRun[] = [];
  const jobs: MaterializeJob[] = [];
  try {
    for (const item of items) staged.push(await stageRun(s, item, fsync, jobs));
    const stats = await materializeTrees(reader, jobs, { staged: true, fsync, onProgress: onFile });
    result.files += stats.written;
    result.bytes += stats.bytesWritten;
    syncFs?.(s.runsDir);
    for (const run of staged) await publishRun(s, run, reader, cache, write);
  } finally {
    for (const { staging } of staged) await removeTree(staging);
  }
}

/** A new run's staging folder, and the stat cache's rows for what is written into it. */
interface StagedRun {
  item: GitPullItem;
  staging: string;
  rows: { path: string; stamp: FileStamp; ids: CachedIds }[];
}

/** Makes a new run's staging folder, writes its user entries, and adds its trees to `jobs`. */
async function stageRun(s: GitSession, item: GitPullItem, fsync: boolean, jobs: MaterializeJob[]): Promise<StagedRun> {
  const paths = item.run.paths;
  const staging = join(statePaths.staging(s.runsDir), `${item.run.id}-${randomBytes(6).toString("hex")}`);
  const run: StagedRun = { item, staging, rows: [] };
  const rowsUnder = (finalDir: string) => (rel: string, stamp: FileStamp, ids: CachedIds) => void run.rows.push({ path: `${finalDir}/${rel}`, stamp, ids });
  mkdirSync(staging, { recursive: true });
  if (item.files !== undefined && !existsSync(paths.runDir)) jobs.push({ tree: item.files.id, destDir: join(staging, "files"), onWritten: rowsUnder(paths.runDir) });
  else mkdirSync(join(staging, "files"));
  jobs.push({ tree: item.meta!.id, destDir: join(staging, "meta"), onWritten: rowsUnder(paths.metaDir) });
  mkdirSync(join(staging, "user"));
  for (const [name, oid] of item.user) {
    const bytes = await s.repo.objects.read(oid, "blob", `${item.run.id}.user/${name}`);
    const stamp = writeStaged(join(staging, "user", name), 0o444, fsync, bytes, undefined, true);
    run.rows.push({ path: join(paths.userDir, name), stamp, ids: { id: hashBytes(bytes) } });
  }
  return run;
}

/** Moves a staged run into place, its meta last, and notes what was written. */
async function publishRun(s: GitSession, { item, staging, rows }: StagedRun, reader: GitTreeReader, cache: StatCache, write: WriteTree): Promise<void> {
  const paths = item.run.paths;
  // A pull killed between the two renames left `ID/` without its meta: written into in place.
  if (!existsSync(paths.runDir)) renameSync(join(staging, "files"), paths.runDir);
  else if (item.files !== undefined) await write(item.files.id, paths.runDir);
  // The folder moves whole when it can: a file renamed on its own takes a new change time.
  if (item.user.size > 0 && !existsSync(paths.userDir)) renameSync(join(staging, "user"), paths.userDir);
  else await moveUserEntries(join(staging, "user"), paths.userDir, [...item.user.keys()]);
  renameSync(join(staging, "meta"), paths.metaDir);
  await removeStaging(staging);
  for (const r of rows) {
    const id = reader.realId(r.ids.id);
    if (id !== undefined) cache.recordWritten(r.path, r.stamp, { ...r.ids, id });
  }
  noteSynced(s, item, reader);
}

/** A staging folder the renames emptied: a call per folder (a walk of it cost more), else removed whole. */
async function removeStaging(staging: string): Promise<void> {
  try {
    for (const sub of ["user", "files"]) {
      try {
        rmdirSync(join(staging, sub));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
    rmdirSync(staging);
  } catch {
    await removeTree(staging);
  }
}

/** A run already here: folders fast-forward in place (each file renamed into place), meta last. */
async function updateRun(item: GitPullItem, user: Map<string, Buffer>, reader: GitTreeReader, write: WriteTree): Promise<void> {
  const paths = item.run.paths;
  if (item.files !== undefined) {
    await write(item.files.id, paths.runDir);
    await pruneToTree(reader, item.files.id, paths.runDir);
  }
  await writeUserEntries(paths.userDir, user);
  if (item.meta !== undefined) {
    await write(item.meta.id, paths.metaDir);
    await pruneToTree(reader, item.meta.id, paths.metaDir);
  }
}

/** User log files are never replaced: an entry already here stays as it is. */
async function moveUserEntries(from: string, to: string, names: string[]): Promise<void> {
  if (names.length === 0) return;
  await mkdir(to, { recursive: true });
  for (const name of names) if (!existsSync(join(to, name))) await rename(join(from, name), join(to, name));
}

/** User log files are never replaced: an entry already here stays as it is. */
async function writeUserEntries(dir: string, user: Map<string, Buffer>): Promise<void> {
  if (user.size === 0) return;
  await mkdir(dir, { recursive: true });
  for (const [name, bytes] of user) if (!existsSync(join(dir, name))) await writeFileAtomic(join(dir, name), bytes, 0o444);
}
