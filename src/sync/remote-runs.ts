import { runPaths } from "../runs/layout.js";
import { runName } from "../runs/name.js";
import { sortRuns, type Run, type RunStatus } from "../runs/run.js";
import { applyUserLog, parseUserLogEntry } from "../runs/user-log.js";
import { NothingSelectedError, RunNotFoundError } from "../runs/errors.js";
import { matchRunSpec, parseWhere } from "../runs/select.js";
import type { HeadEntry, RemoteView } from "./heads.js";
import type { GitRemoteRun } from "./git/runs.js";
import { gitRemoteSpec } from "./remote.js";
import { closeSession, openSession, type SyncOptions } from "./session.js";

/** A run on a remote, read from its heads alone (no files fetched), shaped as a local `Run`. */
export interface RemoteRun extends Run {
  entries: HeadEntry[];
}

const STATUSES: readonly RunStatus[] = ["completed", "error", "terminated", "running", "staged", "pending", "unknown"];

/**
 * The remote's runs, newest first, but those of `skip` (whose entries are then not decoded).
 * `paths` point where each run would live in `runsDir`.
 */
export function remoteRunsOf(view: RemoteView, runsDir: string, onWarning?: (msg: string) => void, skip?: ReadonlySet<string>): RemoteRun[] {
  const runs: RemoteRun[] = [];
  for (const id of view.runs.keys()) {
    if (skip?.has(id)) continue;
    const entries = view.runs.get(id)!;
    const last = entries.at(-1)!;
    // Parsed when first asked for: a no-change pull of thousands of runs never looks at them.
    let attrs: Record<string, unknown> | undefined;
    const userAttrs = () => {
      if (attrs !== undefined) return attrs;
      const user = new Map<string, Uint8Array>();
      for (const e of entries) for (const [name, bytes] of Object.entries(e.user)) if (!user.has(name)) user.set(name, bytes);
      const log = [];
      for (const name of [...user.keys()].sort()) {
        try {
          log.push(parseUserLogEntry(Buffer.from(user.get(name)!).toString("utf8"), `${id}.user/${name}`));
        } catch (err) {
          onWarning?.(`${(err as Error).message} (skipped)`);
        }
      }
      return (attrs = applyUserLog(log));
    };
    const [ns, ...rest] = last.summary.operation.split(":");
    const timestamps: Run["timestamps"] = {};
    for (const t of ["started", "staged", "initialized"] as const) if (last.summary[t] !== undefined) timestamps[t] = last.summary[t];
    const run: RemoteRun = {
      id,
      name: runName(id),
      paths: runPaths(runsDir, id),
      opref: { ns: ns ?? "", name: rest.join(":") },
      operation: last.summary.operation,
      status: STATUSES.includes(last.summary.status as RunStatus) ? (last.summary.status as RunStatus) : "unknown",
      timestamps,
      attrs: {},
      deleted: false,
      entries,
    };
    Object.defineProperties(run, {
      attrs: { get: userAttrs, enumerable: true },
      label: {
        get: () => {
          const label = userAttrs().label;
          return typeof label === "string" ? label : undefined;
        },
        enumerable: true,
      },
    });
    runs.push(run);
  }
  return sortRuns(runs) as RemoteRun[];
}

/**
 * Runs selected by specs and `--where` from a list, each with whether a spec named it (a run
 * deleted locally is pulled back only when named).
 */
export function selectWithSpecs<R extends Run>(runs: readonly R[], specs: readonly string[] | undefined, where: string | undefined): { run: R; named: boolean }[] {
  let out: { run: R; named: boolean }[];
  if (!specs || specs.length === 0) out = runs.map((run) => ({ run, named: false }));
  else {
    const chosen = new Set<R>();
    for (const spec of specs) {
      const matched = matchRunSpec(runs, spec);
      if (matched.length === 0) throw new RunNotFoundError(spec);
      for (const r of matched) chosen.add(r);
    }
    out = runs.filter((r) => chosen.has(r)).map((run) => ({ run, named: true }));
  }
  if (where !== undefined) {
    const test = parseWhere(where);
    out = out.filter((x) => test(x.run));
    if (out.length === 0) throw new NothingSelectedError(`No runs match --where '${where}'`);
  }
  return out;
}

/**
 * The remote's runs as `gage ls` shows them, from its heads and catalog only (nothing else is
 * fetched); a Git remote's from its fetched branch (`GitRemoteRun`, a few meta files each).
 * `runsDir`, when given, holds the cache of last-known heads.
 */
export async function listRemoteRuns(opts: SyncOptions): Promise<Array<RemoteRun | GitRemoteRun>> {
  const git = await gitRemoteSpec(opts);
  if (git !== undefined) return (await import("./git/status.js")).listGitRemoteRuns(opts, git);
  const s = await openSession(opts, true);
  try {
    const runs = remoteRunsOf(s.view, opts.runsDir, opts.onWarning);
    return opts.runs || opts.where ? selectWithSpecs(runs, opts.runs, opts.where).map((x) => x.run) : runs;
  } finally {
    await closeSession(s, true);
  }
}
