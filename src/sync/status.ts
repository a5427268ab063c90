import { existsSync, readdirSync } from "node:fs";
import { availableParallelism } from "node:os";
import { DELETED_META_SUFFIX } from "../runs/layout.js";
import { listRuns, sortRuns, type Run } from "../runs/run.js";
import { ofPresentRun, presentRuns } from "../state/index.js";
import { entryVersion, loadAllRuns, loadRuns } from "./heads.js";
import { findInSync, noteInSync, sumRuns } from "./in-sync.js";
import { loadLocalRun, sameState, scanRuns } from "./local-runs.js";
import { compareVersions, mergeRunVersions, mergedVersion, type SyncState } from "./merge.js";
import { remoteRunsOf, selectWithSpecs, type RemoteRun } from "./remote-runs.js";
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
  /** Every selected run here, and the first `remoteOnlyRows` of those only on the remote, newest first. */
  runs: RunStatusRow[];
  /** Selected runs only on the remote (those in `runs` and those left out). */
  remoteOnly: number;
  /** Of those, the ones left out of `runs` (past `remoteOnlyRows`). */
  remoteOnlyOmitted: number;
}

export interface StatusOptions extends SyncOptions {
  /**
   * Runs only on the remote to give rows to (default `STATUS_REMOTE_ONLY_ROWS`; `Infinity`: all).
   * Without run specs or `where`, the others are counted by id and never read, so a status
   * costs the runs here and the rows shown, not the remote's total.
   */
  remoteOnlyRows?: number;
}

/** Rows of runs only on the remote a status gives by default: a screenful. */
export const STATUS_REMOTE_ONLY_ROWS = 20;

/**
 * Where each run stands between the runs directory and the remote: local-only, remote-only,
 * ahead, behind, diverged or in sync. Reads the remote's heads only (no files). A run found in
 * sync by a push or pull, whose folders sum up as they did then and with no news from the remote
 * since, is in sync without a scan (the rows push and pull keep); the others are hashed through
 * the stat cache. Runs deleted locally are left out. A Git remote is compared through its
 * fetched branch (src/sync/git).
 */
export async function status(opts: StatusOptions): Promise<StatusResult> {
  const limit = opts.remoteOnlyRows ?? STATUS_REMOTE_ONLY_ROWS;
  const git = await gitRemoteSpec(opts);
  if (git !== undefined) return pageRemoteOnly((await import("./git/status.js")).gitStatus(opts, git), limit);
  const s = await openSession(opts, true);
  try {
    const local = existsSync(opts.runsDir) ? await listRuns(opts.runsDir, opts.onWarning ? { onWarning: opts.onWarning } : {}) : [];
    const localIds = new Set(local.map((r) => r.id));
    const deleted = deletedRunIds(opts.runsDir);
    const whole = !opts.runs?.length && opts.where === undefined;
    let remoteOnly = 0;
    let omitted = 0;
    let remoteRuns: RemoteRun[];
    if (whole) {
      // Runs only on the remote are counted, not listed: the remote's count less the runs here
      // (or deleted here) it holds. Only the `limit` the view learned of last are read (a run here
      // is looked up by id when it is compared).
      let here = 0;
      for (const id of new Set([...localIds, ...deleted])) if (s.view.runs.has(id)) here++;
      remoteOnly = s.view.runs.size - here;
      const shown: string[] = [];
      if (limit > 0) {
        for (const id of s.view.runs.keysFromLast()) {
          if (shown.length >= limit) break;
          if (!localIds.has(id) && !deleted.has(id)) shown.push(id);
        }
      }
      shown.reverse();
      omitted = remoteOnly - shown.length;
      // The catalog segments of the runs here and of the rows shown, no others.
      await loadRuns(s.view, s.remote.storage, [...localIds, ...shown]);
      remoteRuns = remoteRunsOf(s.view, opts.runsDir, opts.onWarning, undefined, shown);
    } else {
      await loadAllRuns(s.view, s.remote.storage);
      remoteRuns = remoteRunsOf(s.view, opts.runsDir, opts.onWarning);
    }
    const onRemote = (id: string) => s.view.runs.has(id);
    const byId = new Map<string, Run>(remoteRuns.map((r) => [r.id, r]));
    for (const r of local) byId.set(r.id, r);
    const all = sortRuns([...byId.values()]).filter((r) => localIds.has(r.id) || !deleted.has(r.id));
    const rows: RunStatusRow[] = [];
    let selected = selectWithSpecs(all, opts.runs, opts.where);
    if (!whole) {
      // Selected by specs or a filter: the remote-only rows past the first `limit` are counted.
      selected = selected.filter(({ run }) => {
        if (localIds.has(run.id)) return true;
        remoteOnly++;
        if (remoteOnly <= limit) return true;
        omitted++;
        return false;
      });
    }
    // A run here that the remote lacks is local-only, whatever its files: only the others are summed and compared.
    const known = selected.filter(({ run }) => localIds.has(run.id) && onRemote(run.id)).map(({ run }) => run.id);
    const summed = await sumRuns(opts.runsDir, known, { threads: availableParallelism(), nowMs: s.now(), started: opts.startedSums });
    const inSync = summed === undefined ? new Set<string>() : findInSync(s, known, { prune: false, summed });
    const toScan = selected.filter(({ run }) => localIds.has(run.id) && onRemote(run.id) && !inSync.has(run.id)).map(({ run }) => ({ id: run.id, deleted: false, run }));
    const scans = new Map((await scanRuns(opts.runsDir, toScan, s.cache, { threads: opts.scanThreads })).map((scan) => [scan.ref.id, scan]));
    for (const { run } of selected) {
      // A run only on the remote, with one entry (no divergence), needs no entries decoded.
      if (!localIds.has(run.id) && s.view.runs.count(run.id) === 1) {
        rows.push({ id: run.id, name: run.name, operation: run.operation, label: run.label ?? "", state: "remote-only" });
        continue;
      }
      // A run found in sync needs no entries decoded either.
      if (inSync.has(run.id)) {
        rows.push({ id: run.id, name: run.name, operation: run.operation, label: run.label ?? "", state: "in sync" });
        continue;
      }
      const entries = s.view.runs.get(run.id) ?? [];
      const merged = entries.length === 0 ? undefined : mergeRunVersions(entries.map(entryVersion));
      const theirs = merged ? mergedVersion(merged) : undefined;
      const scan = scans.get(run.id);
      let state: SyncState;
      if (!merged) state = "local-only";
      else if (!theirs) state = "diverged";
      else if (scan && sameState(scan, theirs)) {
        state = "in sync";
        if (entries.length === 1) noteInSync(s, run.id, summed?.runs.get(run.id));
      }
      else state = compareVersions(scan ? (await loadLocalRun(opts.runsDir, scan, s.cache)).version : undefined, theirs);
      rows.push({ id: run.id, name: run.name, operation: run.operation, label: run.label ?? "", state });
    }
    // A status of every run that read the stat cache leaves out of it the rows of runs no longer here.
    if (whole) s.loadedCache?.forgetUnless(ofPresentRun(opts.runsDir, presentRuns(opts.runsDir)));
    return { remote: s.remote.url, runs: rows, remoteOnly, remoteOnlyOmitted: omitted };
  } finally {
    await closeSession(s, true);
  }
}

/** Ids of the runs deleted here (`ID.meta.deleted`), from one listing of the runs directory. */
function deletedRunIds(runsDir: string): Set<string> {
  let names: string[];
  try {
    names = readdirSync(runsDir);
  } catch {
    return new Set();
  }
  return new Set(names.filter((n) => n.endsWith(DELETED_META_SUFFIX)).map((n) => n.slice(0, -DELETED_META_SUFFIX.length)));
}

/** A status with every remote-only row (a Git remote's), cut to the first `limit` of them. */
async function pageRemoteOnly(result: Promise<StatusResult>, limit: number): Promise<StatusResult> {
  const { remote, runs, remoteOnly } = await result;
  let kept = 0;
  const rows = runs.filter((r) => r.state !== "remote-only" || kept++ < limit);
  return { remote, runs: rows, remoteOnly, remoteOnlyOmitted: runs.length - rows.length };
}
