import { isRunId, runPaths } from "../runs/layout.js";
import { nameRange, runName } from "../runs/name.js";
import { runTimestamp, type Run, type RunStatus } from "../runs/run.js";
import { applyUserLog, parseUserLogEntry } from "../runs/user-log.js";
import { NothingSelectedError, RunNotFoundError } from "../runs/errors.js";
import { matchRunSpec, parseRunSpec, parseWhere } from "../runs/select.js";
import { idsInRange } from "./segment-table.js";
import type { Storage } from "../remotes/storage.js";
import { loadAllRuns, loadNewestRuns, loadRuns, type HeadEntry, type RemoteView, type RunSummary } from "./heads.js";
import { newerFirst, summaryTime } from "./catalog-v2.js";
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
 * Loads the catalog segments a selection by `specs` and `where` reads: for specs that are all run
 * id or name prefixes, those of the runs they may match (returned: `where` tests only the runs
 * the specs select), else every run (`undefined`: list them all).
 */
export async function loadSelected(view: RemoteView, storage: Pick<Storage, "getBytes">, specs: readonly string[] | undefined, where: string | undefined): Promise<string[] | undefined> {
  const ids = specs === undefined || specs.length === 0 ? undefined : idsNamed(view, specs);
  if (ids !== undefined) {
    await loadRuns(view, storage, ids);
    return ids;
  }
  await loadAllRuns(view, storage);
  return undefined;
}

/**
 * The runs `specs` may match when each is an id or name prefix (not an index of the remote's
 * runs, nor a slice), from the segments' id tables and the runs held: a name spells its id's first
 * 32 bits, so a name prefix is a range of ids. `undefined` for an index or a slice.
 */
function idsNamed(view: RemoteView, specs: readonly string[]): string[] | undefined {
  const count = view.runs.size;
  if (!specs.every((spec) => parseRunSpec(spec, count).kind === "prefix")) return undefined;
  const out = new Set<string>();
  for (const spec of specs) {
    for (const id of view.runs.idsWithPrefix(spec)) out.add(id);
    const range = nameRange(spec);
    if (range === undefined) continue;
    for (const id of idsInRange(view.runs.segments(), range.lo, range.hi)) out.add(id);
    for (const id of view.runs.keysHeld()) if (isRunId(id) && runName(id).startsWith(spec)) out.add(id);
  }
  return [...out];
}

/**
 * The first `n` runs `ls` shows. The candidates are the catalog root's newest runs and the runs
 * the view holds (heads newer than the catalog); the shown runs come from the root's copy of its
 * newest runs (one small segment), any other from its segment. When the root's table cannot decide the page (more rows
 * than it lists, runs not merged yet), every run is loaded.
 */
export async function remoteRunsPage(view: RemoteView, storage: Pick<Storage, "getBytes">, runsDir: string, n: number, onWarning?: (msg: string) => void): Promise<RemoteRun[]> {
  const page = pageIds(view, n);
  if (page === undefined) {
    await loadAllRuns(view, storage);
    return remoteRunsOf(view, runsDir, onWarning).slice(0, n);
  }
  if (view.runs.unloaded(page).length > 0) await loadNewestRuns(view, storage);
  await loadRuns(view, storage, page);
  return remoteRunsOf(view, runsDir, onWarning, undefined, page);
}

function pageIds(view: RemoteView, n: number): string[] | undefined {
  const table = view.newestRuns;
  if (view.runs.unloaded().length === 0) return undefined;
  if (table === undefined) return undefined;
  const candidates = new Map<string, number | null>();
  for (const id of view.runs.keysHeld()) {
    if (view.runs.stale(id)) return undefined;
    candidates.set(id, summaryTime(view.runs.summary(id)) ?? null);
  }
  table.ids.forEach((id, i) => {
    if (!candidates.has(id) && view.runs.has(id)) candidates.set(id, table.t[i]!);
  });
  const sorted = [...candidates].map(([id, t]) => ({ id, t })).sort(newerFirst);
  const listed = view.runs.segments().reduce((sum, s) => sum + s.n, 0);
  // Runs the table leaves out sort after its last one: the page is decided when its last row sorts before that.
  if (table.ids.length < listed) {
    const last = { id: table.ids.at(-1)!, t: table.t.at(-1)! };
    if (sorted.length < n || newerFirst(sorted[n - 1]!, last) > 0) return undefined;
  }
  return sorted.slice(0, n).map((r) => r.id);
}

/**
 * The remote's runs as `gage ls` shows them, from its heads and catalog only (nothing else is
 * fetched); a Git remote's from its fetched branch (`GitRemoteRun`, a few meta files each).
 * `runsDir`, when given, holds the cache of last-known heads. `first`: only the first runs `ls`
 * shows are wanted (`total` says how many there are).
 */
export async function listRemoteRuns(opts: SyncOptions & { first?: number }): Promise<Array<RemoteRun | GitRemoteRun>> {
  return (await listRemoteRunsCounted(opts)).runs;
}

/** `listRemoteRuns`, with the number of runs the remote holds (more than listed with `first`). */
export async function listRemoteRunsCounted(opts: SyncOptions & { first?: number }): Promise<{ runs: Array<RemoteRun | GitRemoteRun>; total: number }> {
  const git = await gitRemoteSpec(opts);
  if (git !== undefined) {
    const runs = await (await import("./git/status.js")).listGitRemoteRuns(opts, git);
    return { runs: opts.first === undefined ? runs : runs.slice(0, opts.first), total: runs.length };
  }
  const s = await openSession(opts, true);
  try {
    if (opts.first !== undefined && !opts.runs?.length && opts.where === undefined) {
      return { runs: await remoteRunsPage(s.view, s.remote.storage, opts.runsDir, opts.first, opts.onWarning), total: s.view.runs.size };
    }
    await loadAllRuns(s.view, s.remote.storage);
    const runs = remoteRunsOf(s.view, opts.runsDir, opts.onWarning);
    const selected = opts.runs || opts.where ? selectWithSpecs(runs, opts.runs, opts.where).map((x) => x.run) : runs;
    return { runs: opts.first === undefined ? selected : selected.slice(0, opts.first), total: selected.length };
  } finally {
    await closeSession(s, true);
  }
}
