import { runPaths } from "../runs/layout.js";
import { runName } from "../runs/name.js";
import { runTimestamp, type Run, type RunStatus } from "../runs/run.js";
import { applyUserLog, parseUserLogEntry } from "../runs/user-log.js";
import { NothingSelectedError, RunNotFoundError } from "../runs/errors.js";
import { matchRunSpec, parseWhere } from "../runs/select.js";
import type { HeadEntry, RemoteView, RunSummary } from "./heads.js";
import type { GitRemoteRun } from "./git/runs.js";
import { gitRemoteSpec } from "./remote.js";
import { closeSession, openSession, type SyncOptions } from "./session.js";

/** A run on a remote, read from its heads alone (no files fetched), shaped as a local `Run`. */
export interface RemoteRun extends Run {
  entries: HeadEntry[];
}

const STATUSES: readonly RunStatus[] = ["completed", "error", "terminated", "running", "staged", "pending", "unknown"];

/**
 * A remote run as listings show it: its summary read up front (what sorting needs), its entries
 * and user attributes decoded when first asked for (a listing of 100,000 runs decodes the
 * 20 it prints).
 */
class ViewRun implements RemoteRun {
  readonly id: string;
  readonly opref: RemoteRun["opref"];
  readonly operation: string;
  readonly status: RunStatus;
  readonly timestamps: RemoteRun["timestamps"];
  readonly deleted = false;
  readonly #view: RemoteView;
  readonly #runsDir: string;
  readonly #onWarning: ((msg: string) => void) | undefined;
  #entries: HeadEntry[] | undefined;
  #attrs: Record<string, unknown> | undefined;

  constructor(view: RemoteView, id: string, summary: RunSummary, runsDir: string, onWarning: ((msg: string) => void) | undefined) {
    this.#view = view;
    this.#onWarning = onWarning;
    this.#runsDir = runsDir;
    this.id = id;
    const [ns, ...rest] = summary.operation.split(":");
    this.opref = { ns: ns ?? "", name: rest.join(":") };
    this.operation = summary.operation;
    this.status = STATUSES.includes(summary.status as RunStatus) ? (summary.status as RunStatus) : "unknown";
    const timestamps: Run["timestamps"] = {};
    for (const t of ["started", "staged", "initialized"] as const) if (summary[t] !== undefined) timestamps[t] = summary[t];
    this.timestamps = timestamps;
  }

  get name(): string {
    return runName(this.id);
  }

  get paths(): RemoteRun["paths"] {
    return runPaths(this.#runsDir, this.id);
  }

  get entries(): HeadEntry[] {
    return (this.#entries ??= this.#view.runs.get(this.id)!);
  }

  get attrs(): Record<string, unknown> {
    if (this.#attrs !== undefined) return this.#attrs;
    const user = this.#view.runs.user(this.id) ?? new Map<string, Uint8Array>();
    const log = [];
    for (const name of [...user.keys()].sort()) {
      try {
        log.push(parseUserLogEntry(Buffer.from(user.get(name)!).toString("utf8"), `${this.id}.user/${name}`));
      } catch (err) {
        this.#onWarning?.(`${(err as Error).message} (skipped)`);
      }
    }
    return (this.#attrs = applyUserLog(log));
  }

  get label(): string | undefined {
    const label = this.attrs.label;
    return typeof label === "string" ? label : undefined;
  }

  toJSON(): Record<string, unknown> {
    const { id, name, paths, opref, operation, status, timestamps, deleted, attrs, label, entries } = this;
    return { id, name, paths, opref, operation, status, timestamps, attrs, deleted, ...(label === undefined ? {} : { label }), entries };
  }
}

/**
 * The remote's runs, newest first, but those of `skip`, or only those of `only`. Entries are
 * decoded when a run's `entries`, `attrs` or `label` is first read. `paths` point where each run
 * would live in `runsDir`.
 */
export function remoteRunsOf(view: RemoteView, runsDir: string, onWarning?: (msg: string) => void, skip?: ReadonlySet<string>, only?: Iterable<string>): RemoteRun[] {
  const runs: { run: RemoteRun; t: number }[] = [];
  for (const id of only ?? view.runs.keys()) {
    if (skip?.has(id)) continue;
    const summary = view.runs.summary(id);
    if (summary === undefined) continue;
    const run = new ViewRun(view, id, summary, runsDir, onWarning);
    runs.push({ run, t: runTimestamp(run) ?? -Infinity });
  }
  // `sortRuns`' order (newest first, no time last, ties by id), each run's time read once.
  runs.sort((a, b) => b.t - a.t || (a.run.id < b.run.id ? -1 : a.run.id > b.run.id ? 1 : 0));
  return runs.map((r) => r.run);
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
