import { existsSync, readdirSync } from "node:fs";
import type { GitRemoteSpec } from "../../remotes/config.js";
import { listRuns, sortRuns, type Run } from "../../runs/run.js";
import { scanRun } from "../local-runs.js";
import { statePaths } from "../../state/index.js";
import { StatCache } from "../../worktree/index.js";
import type { SyncState } from "../merge.js";
import { selectWithSpecs } from "../remote-runs.js";
import type { SyncOptions } from "../session.js";
import type { StatusResult, RunStatusRow } from "../status.js";
import { readUserTree } from "./branch.js";
import { localTreeOid } from "./local.js";
import { decidePart, runState } from "./merge.js";
import { readGitRemoteRuns } from "./pull.js";
import type { GitRemoteRun } from "./runs.js";
import { closeGitSession, openGitSession } from "./session.js";

/** `gage status` against a Git remote: each run local-only, remote-only, ahead, behind, diverged or in sync. */
export async function gitStatus(opts: SyncOptions, spec: GitRemoteSpec): Promise<StatusResult> {
  const s = await openGitSession(opts, spec);
  try {
    const local = existsSync(opts.runsDir) ? await listRuns(opts.runsDir, opts.onWarning ? { onWarning: opts.onWarning } : {}) : [];
    const remote = new Map((await readGitRemoteRuns(s, opts.onWarning)).map((r) => [r.id, r]));
    const byId = new Map<string, Run>(remote);
    for (const r of local) byId.set(r.id, r);
    const localIds = new Set(local.map((r) => r.id));
    const all = sortRuns([...byId.values()]).filter((r) => localIds.has(r.id) || !existsSync(r.paths.deletedMetaDir));
    const cache = StatCache.loadSync(statePaths.statCache(opts.runsDir));
    const rows: RunStatusRow[] = [];
    for (const { run } of selectWithSpecs(all, opts.runs, opts.where)) {
      const theirs = remote.get(run.id) as GitRemoteRun | undefined;
      let state: SyncState;
      if (!localIds.has(run.id)) state = "remote-only";
      else if (theirs === undefined) state = "local-only";
      else {
        const scan = await scanRun(opts.runsDir, { id: run.id, deleted: false }, cache);
        const base = s.state.synced.get(run.id) ?? {};
        const files = decidePart(await localTreeOid(s.state, cache, scan.files, run.paths.runDir, s.largeAt), theirs.branch.files, base.files);
        const meta = decidePart(await localTreeOid(s.state, cache, scan.meta, run.paths.metaDir, s.largeAt), theirs.branch.meta, base.meta);
        const theirUser = await readUserTree(s.repo.objects, theirs.branch);
        const ours = new Set(existsSync(run.paths.userDir) ? readdirSync(run.paths.userDir).filter((n) => n in scan.user) : []);
        state = runState([files, meta], [...ours].filter((n) => !theirUser.has(n)).length, [...theirUser.keys()].filter((n) => !ours.has(n)).length);
      }
      rows.push({ id: run.id, name: run.name, operation: run.operation, label: run.label ?? "", state });
    }
    return { remote: s.spec.url, runs: rows, remoteOnly: rows.filter((r) => r.state === "remote-only").length, remoteOnlyOmitted: 0 };
  } finally {
    await closeGitSession(s, true);
  }
}

/** The Git remote's runs as `gage ls --remote` shows them, newest first. */
export async function listGitRemoteRuns(opts: SyncOptions, spec: GitRemoteSpec): Promise<GitRemoteRun[]> {
  const s = await openGitSession(opts, spec);
  try {
    const runs = await readGitRemoteRuns(s, opts.onWarning);
    return opts.runs?.length || opts.where !== undefined ? selectWithSpecs(runs, opts.runs, opts.where).map((x) => x.run) : runs;
  } finally {
    await closeGitSession(s, true);
  }
}
