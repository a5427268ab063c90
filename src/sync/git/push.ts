import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { StatCache } from "../../worktree/index.js";
import type { GitRemoteSpec } from "../../remotes/config.js";
import { RemoteConflictError } from "../../remotes/errors.js";
import { EMPTY_TREE_OID, encodeCommit, encodeTree, type GitOid, type GitPerson, type GitTreeEntry } from "../../remotes/git/objects.js";
import { DEFAULT_MAX_FILE_SIZE } from "../../remotes/git/options.js";
import { runPaths } from "../../runs/layout.js";
import { readRun, runMetaDir } from "../../runs/run.js";
import { ConflictError, type RunConflict } from "../errors.js";
import { scanRuns, selectLocalRuns, type ScannedRun } from "../local-runs.js";
import { statePaths } from "../../state/index.js";
import { plannedRun } from "../plan.js";
import type { PushOptions, PushResult } from "../push.js";
import { checkOnly, RUN_PARTS, type PlannedRun, type RunPart, type SyncOptions, type SyncProgressEvent, type TransferPlan } from "../session.js";
import { readUserTree, README_NAME, type Branch } from "./branch.js";
import { LargeFilesError } from "./errors.js";
import { localTreeOid, noteBuiltTree } from "./local.js";
import { buildTree, largeFiles } from "./local-tree.js";
import { decidePart, type PartDecision, type TreeMerge } from "./merge.js";
import { mergeObjects } from "./merge-folder.js";
import { closeGitSession, fetchBranch, openGitSession, type GitSession } from "./session.js";
import { GitInSync } from "./in-sync.js";
import { summedTotals, sumRuns } from "../in-sync.js";
import { availableParallelism } from "node:os";

export const DEFAULT_MAX_PACK_BYTES = 256 * 1024 * 1024;
/** Tries of a push whose branch moved meanwhile (someone else pushed): fetch, merge, commit, push again. */
const MAX_ATTEMPTS = 12;

interface GitPushItem {
  scan: ScannedRun;
  planned: PlannedRun;
  /** Git trees of the local folders, once known (hashed in planning, or built while sending). */
  files?: GitOid;
  meta?: GitOid;
  /** `ID.user/` names on this side. */
  user: string[];
  built: boolean;
  /** Trees committed for folders merged file by file with the branch's (this side's are `files`, `meta`). */
  merged?: { files?: GitOid; meta?: GitOid };
  /** Files sent to the lfs store (their pointers are in the trees). */
  large: { path: string; oid: string; size: number }[];
}

const README = `# Gage runs

This branch is a Gage runs directory, shared with \`gage push\` (gage-sync). Each run is three
folders: \`ID/\` (its files), \`ID.meta/\` (its metadata) and \`ID.user/\` (labels and comments, one
file per change).

Read it with \`gage clone\` or \`gage pull\`, or clone the branch with git and run
\`GAGE_RUNS=<clone> gage ls\`. Pushes only add commits: nothing here is ever removed or rewritten.
`;

/**
 * Plans a push to a Git remote: fetches the branch, scans the selected local runs (the stat cache
 * spares unchanged files) and merges each with the branch's copy (see `decidePart`; user entries
 * by union). Nothing is sent until `execute`, which writes Git objects, commits on the fetched tip
 * and pushes, in commits of at most `maxPackBytes` of new files, fetching and merging again when the
 * branch moved meanwhile. It never forces.
 * Runs changed on both sides (unless `force`) are left out and named in the plan's `conflicts`.
 * @throws LargeFilesError for files at or over `max_file_size`.
 */
export async function planGitPush(opts: PushOptions, spec: GitRemoteSpec): Promise<TransferPlan<PushResult>> {
  const only = checkOnly(opts.only);
  const whole = only.size === RUN_PARTS.length;
  const refs = await selectLocalRuns(opts.runsDir, opts);
  const live = refs.filter((r) => !r.deleted).map((r) => r.id);
  // Every live run is summed up (in C, on every core) while the branch's tip is read: a run whose
  // sums match its row for that tip is up to date with no fetch, scan or tree read.
  const summing = whole ? sumRuns(opts.runsDir, live, { threads: availableParallelism(), nowMs: (opts.now ?? Date.now)(), started: opts.startedSums }) : undefined;
  const s = await openGitSession(opts, spec, { fetch: false });
  try {
    const rows = new GitInSync(opts.runsDir, s.spec.url, s.largeAt);
    const tip = await s.repo.tip();
    const summed = await summing;
    rows.load(tip);
    rows.keepOnly(live);
    const inSync = summed === undefined ? new Set<string>() : rows.matching(live, summed.runs);
    s.inSync = summed === undefined ? undefined : { rows, sums: summed.runs };
    if (inSync.size > 0) opts.onProgress?.({ phase: "scan", ...summedTotals(inSync, summed!.runs) });
    const toCompare = refs.filter((r) => !inSync.has(r.id));
    let upToDate = inSync.size;
    const items: GitPushItem[] = [];
    const conflicts: RunConflict[] = [];
    // The stat cache is loaded only when a run is compared.
    let cache: StatCache | undefined;
    if (toCompare.length > 0) {
      await fetchBranch(s);
      rows.at(s.branch.tip);
      cache = StatCache.loadSync(statePaths.statCache(opts.runsDir));
      const scans = await scanRuns(opts.runsDir, toCompare, cache, { threads: opts.scanThreads, treeSums: summed?.treeSums });
      if (cache.dirty) await cache.save(statePaths.statCache(opts.runsDir));
      for (const scan of scans) {
        opts.onProgress?.({ phase: "scan", files: scan.stats.files, bytes: scan.stats.bytes });
        const item: GitPushItem = { scan, user: only.has("user") ? Object.keys(scan.user) : [], built: false, large: [], planned: plannedRun({ id: scan.ref.id, name: "", operation: "", label: "" }, "", 0, 0) };
        const decision = await decide(s, cache, item, only, opts.force ?? false);
        if (decision !== undefined && decision !== "in sync" && "conflicts" in decision) {
          rows.drop(scan.ref.id);
          conflicts.push({ runId: scan.ref.id, paths: decision.conflicts });
          continue;
        }
        if (decision === undefined || decision === "in sync") {
          if (decision === "in sync") s.inSync?.rows.note(scan.ref.id, s.inSync.sums.get(scan.ref.id));
          else rows.drop(scan.ref.id);
          upToDate++;
          continue;
        }
        rows.drop(scan.ref.id);
        const run = scan.ref.run ?? (await readRun(opts.runsDir, scan.ref.id, { deleted: scan.ref.deleted }));
        const sendsTrees = decision.files || decision.meta;
        item.planned = plannedRun(run, decision.what, sendsTrees ? scan.stats.files : decision.newUser, sendsTrees ? scan.stats.bytes : 0);
        items.push(item);
      }
    }
    checkLargeFiles(opts.runsDir, items, only, s);
    return {
      remote: s.spec.url,
      runs: items.map((i) => i.planned),
      // Diverged runs are left out and named after the rest move, as the store's push does.
      ...(conflicts.length === 0 ? {} : { conflicts: new ConflictError(conflicts) }),
      upToDate,
      scanned: refs.length,
      execute: (onProgress) => executeGitPush(s, cache ?? StatCache.loadSync(statePaths.statCache(opts.runsDir)), opts, items, only, upToDate, onProgress ?? opts.onProgress),
      close: () => closeGitSession(s, true),
    };
  } catch (err) {
    await closeGitSession(s, false);
    throw err;
  }
}

interface PushDecision {
  files: boolean;
  meta: boolean;
  newUser: number;
  what: string;
  /** Folders both sides changed, merged file by file: committed instead of this side's. */
  merged: { files?: TreeMerge; meta?: TreeMerge };
  /** Once sent, the branch holds exactly what this side holds (a whole run pushed, nothing merged). */
  equalAfter: boolean;
}

/**
 * What a run sends given the branch now: undefined when nothing ("in sync" when both sides hold
 * the same, whose base is then recorded), the paths of files both sides changed differently for a divergence not
 * forced. Hashes a local folder only when the branch holds another tree for it; a folder both
 * sides changed is merged file by file (`--force` keeps this side's version of those files).
 */
async function decide(s: GitSession, cache: StatCache, item: GitPushItem, only: ReadonlySet<RunPart>, force: boolean): Promise<PushDecision | { conflicts: string[] } | "in sync" | undefined> {
  const id = item.scan.ref.id;
  const theirs = s.branch.runs.get(id);
  const paths = runPaths(s.runsDir, id);
  const metaDir = item.scan.ref.deleted ? paths.deletedMetaDir : paths.metaDir;
  const base = s.state.synced.get(id) ?? {};
  const part = async (name: "files" | "meta", ours: string, dir: string): Promise<PartDecision> => {
    if (!only.has(name)) return "same";
    const remote = theirs?.[name];
    // A run the branch lacks sends its folders: their trees are built while sending.
    if (remote === undefined && !item.built) return "ours";
    item[name] ??= await localTreeOid(s.state, cache, ours, dir, s.largeAt);
    const d = decidePart(item[name], remote, base[name]);
    if (d === "same") s.state.setSynced(id, name, item[name]!);
    if (d !== "conflict") return d;
    const m = await mergeObjects(s).merge(dir, remote!, base[name], name === "files" ? id : `${id}.meta`, force);
    if ("conflicts" in m) {
      conflicts.push(...m.conflicts);
      return "conflict";
    }
    // Their tree holds this side's changes already: a pull brings the rest.
    if (m.oid === remote) return "theirs";
    merged[name] = m;
    return "ours";
  };
  const merged: PushDecision["merged"] = {};
  const conflicts: string[] = [];
  const files = await part("files", item.scan.files, paths.runDir);
  const meta = await part("meta", item.scan.meta, metaDir);
  if (conflicts.length > 0) return { conflicts };
  const theirUser = theirs === undefined ? new Map() : await readUserTree(s.repo.objects, theirs);
  const newUser = item.user.filter((n) => !theirUser.has(n)).length;
  const sendFiles = files === "ours" && item.files !== EMPTY_TREE_OID;
  const sendMeta = meta === "ours" && item.meta !== EMPTY_TREE_OID;
  if (!sendFiles && !sendMeta && newUser === 0) {
    const same = files === "same" && meta === "same" && theirUser.size === item.user.length && theirs !== undefined;
    return same && only.size === RUN_PARTS.length ? "in sync" : undefined;
  }
  const what = theirs === undefined ? "new" : [sendFiles ? "files" : "", sendMeta ? "meta" : "", newUser > 0 ? `user +${newUser}` : ""].filter(Boolean).join(", ");
  const unmerged = merged.files === undefined && merged.meta === undefined;
  const equalAfter = unmerged && only.size === RUN_PARTS.length && (sendFiles || files === "same") && (sendMeta || meta === "same") && theirUser.size + newUser === item.user.length;
  return { files: sendFiles, meta: sendMeta, newUser, what, merged, equalAfter };
}

function checkLargeFiles(runsDir: string, items: GitPushItem[], only: ReadonlySet<RunPart>, s: GitSession): void {
  if (s.lfs.configured) return;
  const limit = (s.spec.settings.max_file_size as number | undefined) ?? DEFAULT_MAX_FILE_SIZE;
  const dirs = items.flatMap((i) => {
    const paths = runPaths(runsDir, i.scan.ref.id);
    return [...(only.has("files") ? [paths.runDir] : []), ...(only.has("meta") ? [i.scan.ref.deleted ? paths.deletedMetaDir : paths.metaDir] : [])];
  });
  const found = largeFiles(dirs, limit);
  if (found.length > 0) throw new LargeFilesError(found, limit, s.spec.url);
}

async function executeGitPush(
  s: GitSession,
  cache: StatCache,
  opts: PushOptions,
  items: GitPushItem[],
  only: ReadonlySet<RunPart>,
  upToDate: number,
  onProgress: ((e: SyncProgressEvent) => void) | undefined,
): Promise<PushResult> {
  const result: PushResult = { remote: s.spec.url, runs: items.map((i) => i.planned), upToDate, objects: 0, bytes: 0 };
  try {
    if (items.length === 0) return result;
    onProgress?.({ phase: "upload", files: 0, bytes: 0, total: { files: items.reduce((n, i) => n + i.planned.files, 0), bytes: items.reduce((n, i) => n + i.planned.bytes, 0) } });
    // Asked of `git config` while the first batch is built.
    const asking = commitAuthor(s, opts);
    asking.catch(() => undefined);
    const bound = opts.maxPackBytes ?? DEFAULT_MAX_PACK_BYTES;
    let remaining = items;
    let attempt = 0;
    while (remaining.length > 0) {
      const batch: GitPushItem[] = [];
      let bytes = 0;
      for (const item of remaining) {
        if (batch.length > 0 && bytes + item.planned.bytes > bound) break;
        batch.push(item);
        bytes += item.planned.bytes;
      }
      for (const item of batch) await buildItem(s, cache, item, only, onProgress);
      const commit = await commitBatch(s, cache, batch, only, opts.force ?? false, await asking);
      if (commit === undefined || (await s.repo.publish(s.branch.tip, commit.oid))) {
        if (commit !== undefined) {
          s.inSync?.rows.moved(s.branch.tip, commit.oid);
          for (const id of commit.equal) s.inSync?.rows.note(id, s.inSync.sums.get(id));
          s.branch = commit.branch;
          result.head = commit.oid;
          for (const item of batch) recordSynced(s, item, only);
        }
        remaining = remaining.slice(batch.length);
        attempt = 0;
        continue;
      }
      // Someone pushed meanwhile: wait a little (more each time, at random), fetch, merge again.
      if (++attempt >= MAX_ATTEMPTS) {
        throw new RemoteConflictError(s.spec.url, `The branch ${s.repo.branch} of ${s.spec.url} kept moving: ${attempt} pushes were overtaken by others`, { hint: "Push again: nothing was lost, and what was sent is reused." });
      }
      await sleep(Math.random() * 100 * 2 ** Math.min(attempt, 6));
      await fetchBranch(s);
    }
    result.objects = s.repo.objects.written;
    result.bytes = s.repo.objects.writtenBytes;
    return result;
  } finally {
    await closeGitSession(s, true);
  }
}

/** Writes a run's folders as Git objects (once), reporting each file as sent. */
async function buildItem(s: GitSession, cache: StatCache, item: GitPushItem, only: ReadonlySet<RunPart>, onProgress: ((e: SyncProgressEvent) => void) | undefined): Promise<void> {
  if (item.built) return;
  const paths = runPaths(s.runsDir, item.scan.ref.id);
  const build = {
    onFile: (bytes: number) => onProgress?.({ phase: "upload", files: 1, bytes }),
    largeAt: s.largeAt,
    onLarge: (path: string, oid: string, size: number) => item.large.push({ path, oid, size }),
  };
  if (only.has("files")) {
    const built = await buildTree(paths.runDir, s.repo.objects, build);
    item.files = built.oid;
    await noteBuiltTree(s.state, cache, paths.runDir, built, s.largeAt);
  }
  if (only.has("meta")) {
    const metaDir = runMetaDir({ paths, deleted: item.scan.ref.deleted });
    const built = await buildTree(metaDir, s.repo.objects, build);
    item.meta = built.oid;
    await noteBuiltTree(s.state, cache, metaDir, built, s.largeAt);
  }
  // Contents before the pointers that name them become visible: a reader never finds one missing.
  for (const large of item.large) await s.lfs.upload(large.path, large.oid, large.size);
  item.built = true;
}

/**
 * The commit that adds a batch to the branch's tip: each run merged again with the branch as it
 * is now (it may have moved since planning). Undefined when the branch already holds everything.
 */
async function commitBatch(s: GitSession, cache: StatCache, batch: GitPushItem[], only: ReadonlySet<RunPart>, force: boolean, author: GitPerson): Promise<{ oid: GitOid; branch: Branch; equal: string[] } | undefined> {
  const equal: string[] = [];
  const root = new Map(s.branch.root.map((e) => [e.name, e]));
  const runs = new Map(s.branch.runs);
  const conflicts: RunConflict[] = [];
  const names: string[] = [];
  for (const item of batch) {
    const id = item.scan.ref.id;
    const decision = await decide(s, cache, item, only, force);
    if (decision !== undefined && decision !== "in sync" && "conflicts" in decision) {
      conflicts.push({ runId: id, paths: decision.conflicts });
      continue;
    }
    if (decision === undefined || decision === "in sync") continue;
    if (decision.equalAfter) equal.push(id);
    const run = { ...(runs.get(id) ?? { id }) };
    for (const m of [decision.merged.files, decision.merged.meta]) if (m !== undefined) await mergeObjects(s).store(m);
    item.merged = { ...(decision.merged.files ? { files: decision.merged.files.oid } : {}), ...(decision.merged.meta ? { meta: decision.merged.meta.oid } : {}) };
    if (decision.files) root.set(id, { mode: "40000", name: id, oid: (run.files = decision.merged.files?.oid ?? item.files!) });
    if (decision.meta) root.set(`${id}.meta`, { mode: "40000", name: `${id}.meta`, oid: (run.meta = decision.merged.meta?.oid ?? item.meta!) });
    if (decision.newUser > 0) {
      const entries = new Map<string, GitTreeEntry>();
      const theirs = s.branch.runs.get(id);
      if (theirs !== undefined) for (const [name, oid] of await readUserTree(s.repo.objects, theirs)) entries.set(name, { mode: "100644", name, oid });
      const userDir = runPaths(s.runsDir, id).userDir;
      for (const name of item.user) {
        if (!entries.has(name)) entries.set(name, { mode: "100644", name, oid: await s.repo.objects.write("blob", readFileSync(join(userDir, name))) });
      }
      const oid = await s.repo.objects.write("tree", encodeTree([...entries.values()]));
      root.set(`${id}.user`, { mode: "40000", name: `${id}.user`, oid: (run.user = oid) });
    }
    runs.set(id, run);
    names.push(item.planned.name.slice(0, 5) || id.slice(0, 8));
  }
  if (conflicts.length > 0) throw new ConflictError(conflicts);
  if (names.length === 0) return undefined;
  if (!root.has(README_NAME)) root.set(README_NAME, { mode: "100644", name: README_NAME, oid: await s.repo.objects.write("blob", Buffer.from(README)) });
  const entries = [...root.values()];
  const tree = await s.repo.objects.write("tree", encodeTree(entries));
  const shown = names.slice(0, 8).join(", ") + (names.length > 8 ? `, and ${names.length - 8} more` : "");
  const message = `gage push: ${names.length === 1 ? "1 run" : `${names.length} runs`} (${shown})\n\n${batch.map((i) => i.scan.ref.id).join("\n")}\n`;
  const parents = s.branch.tip === undefined ? [] : [s.branch.tip];
  const oid = await s.repo.objects.write("commit", encodeCommit({ tree, parents, author, message }));
  return { oid, branch: { tip: oid, root: entries, runs }, equal };
}

/**
 * Both sides now hold what was pushed: the base of the next merge. A folder merged with the
 * branch's leaves this side's tree as the base (the branch's descends from it; a pull brings the rest).
 */
function recordSynced(s: GitSession, item: GitPushItem, only: ReadonlySet<RunPart>): void {
  const run = s.branch.runs.get(item.scan.ref.id);
  for (const part of ["files", "meta"] as const) {
    if (!only.has(part) || run?.[part] === undefined) continue;
    if (run[part] === item[part] || run[part] === item.merged?.[part]) s.state.setSynced(item.scan.ref.id, part, item[part]!);
  }
}

/** The commit author: `author` in the remote's config, else git's `user.name`/`user.email`, else USER@HOST. */
async function commitAuthor(s: GitSession, opts: SyncOptions): Promise<GitPerson> {
  const now = (opts.now ?? Date.now)() / 1000;
  const configured = s.spec.settings.author as string | undefined;
  const m = configured === undefined ? null : /^\s*(.*?)\s*<([^>]*)>\s*$/.exec(configured);
  if (m) return { name: m[1]!, email: m[2]!, time: now };
  const fromGit = await gitConfigAuthor(opts.env ?? {});
  if (fromGit) return { ...fromGit, time: now };
  const user = opts.env?.USER || opts.env?.LOGNAME || "gage";
  return { name: configured ?? user, email: `${user}@${hostname()}`, time: now };
}

function gitConfigAuthor(env: NodeJS.ProcessEnv): Promise<{ name: string; email: string } | undefined> {
  return new Promise((resolve) => {
    execFile("git", ["config", "--get-regexp", "^user\\.(name|email)$"], { env, timeout: 5_000 }, (err, stdout) => {
      if (err) return resolve(undefined);
      const name = /^user\.name (.*)$/m.exec(stdout)?.[1];
      const email = /^user\.email (.*)$/m.exec(stdout)?.[1];
      resolve(name && email ? { name, email } : undefined);
    }).on("error", () => resolve(undefined));
  });
}
