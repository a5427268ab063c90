import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { listRuns } from "../runs/run.js";
import { sortRuns, type Run } from "../runs/run.js";
import { entryVersion } from "./heads.js";
import { findInSync, noteInSync, sumRuns } from "./in-sync.js";
import { loadLocalRun, sameState, scanRuns } from "./local-runs.js";
import { compareVersions, mergeRunVersions, mergedVersion, type SyncState } from "./merge.js";
import { remoteRunsOf, selectWithSpecs } from "./remote-runs.js";
import { gitRemoteSpec } from "./remote.js";
import { closeSession, openSession, type SyncOptions } from "./session.js";

export interface RunStatusRow {
  id: string;
  name: string;
  operation: string;
  label: string;
  state: SyncState;
}

export interface StatusResult {
  remote: string;
  runs: RunStatusRow[];
}

/**
 * Where each run stands between the runs directory and the remote: local-only, remote-only,
 * ahead, behind, diverged or in sync. Reads the remote's heads only (no files). A run found in
 * sync by a push or pull, whose folders sum up as they did then and with no news from the remote
 * since, is in sync without a scan (the rows push and pull keep); the others are hashed through
 * the stat cache. Runs deleted locally are left out. A Git remote is compared through its
 * fetched branch (src/sync/git).
 */
export async function status(opts: SyncOptions): Promise<StatusResult> {
  const git = await gitRemoteSpec(opts);
  if (git !== undefined) return (await import("./git/status.js")).gitStatus(opts, git);
  const s = await openSession(opts, true);
  try {
    const local = existsSync(opts.runsDir) ? await listRuns(opts.runsDir, opts.onWarning ? { onWarning: opts.onWarning } : {}) : [];
    const remote = new Map(remoteRunsOf(s.view, opts.runsDir, opts.onWarning).map((r) => [r.id, r]));
    const byId = new Map<string, Run>(remote);
    for (const r of local) byId.set(r.id, r);
    const localIds = new Set(local.map((r) => r.id));
    const all = sortRuns([...byId.values()]).filter((r) => localIds.has(r.id) || !existsSync(r.paths.deletedMetaDir));
    const rows: RunStatusRow[] = [];
    const selected = selectWithSpecs(all, opts.runs, opts.where);
    const localSelected = selected.filter(({ run }) => localIds.has(run.id)).map(({ run }) => run.id);
    const summed = await sumRuns(opts.runsDir, localSelected, { threads: availableParallelism(), nowMs: s.now() });
    const known = localSelected.filter((id) => remote.has(id));
    const inSync = summed === undefined ? new Set<string>() : findInSync(s, known, { prune: false, summed });
    const toScan = selected.filter(({ run }) => localIds.has(run.id) && !inSync.has(run.id)).map(({ run }) => ({ id: run.id, deleted: false, run }));
    const scans = new Map((await scanRuns(opts.runsDir, toScan, s.cache, { threads: opts.scanThreads })).map((scan) => [scan.ref.id, scan]));
    for (const { run } of selected) {
      const entries = remote.get(run.id)?.entries ?? [];
      const merged = entries.length === 0 ? undefined : mergeRunVersions(entries.map(entryVersion));
      const theirs = merged ? mergedVersion(merged) : undefined;
      const scan = scans.get(run.id);
      let state: SyncState;
      if (inSync.has(run.id)) state = "in sync";
      else if (merged && !theirs) state = "diverged";
      else if (scan && sameState(scan, theirs)) {
        state = "in sync";
        if (entries.length === 1) noteInSync(s, run.id, summed?.runs.get(run.id));
      }
      else state = compareVersions(scan ? (await loadLocalRun(opts.runsDir, scan, s.cache)).version : undefined, theirs);
      rows.push({ id: run.id, name: run.name, operation: run.operation, label: run.label ?? "", state });
    }
    return { remote: s.remote.url, runs: rows };
  } finally {
    await closeSession(s, true);
  }
}
