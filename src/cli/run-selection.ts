import { UsageError } from "../errors.js";
import { AmbiguousRunError, NothingSelectedError, RunNotFoundError, RunsDirError } from "../runs/errors.js";
import { listRuns, sortRuns, type Run } from "../runs/run.js";
import { parseWhere, selectOneRun, selectRuns } from "../runs/select.js";
import { selectByNames } from "../runs/select-dir.js";
import { cliRunsDir, warn, type CliContext, type OutputStream } from "./context.js";
import { assertCanAsk, confirmOrCancel } from "./confirm.js";
import { colors, renderTable, tableLines, type TableColumn } from "./table.js";
import { outputStyle } from "./terminal.js";
import { relativeTime } from "./time-format.js";

/** A run with its 1-based position in the listing it was selected from (`#` in tables). */
export interface IndexedRun {
  index: number;
  run: Run;
}

export interface LoadRunsOptions {
  /** List deleted runs (`ID.meta.deleted`) instead of live ones. */
  deleted?: boolean;
  /** A `-w/--where` expression. */
  where?: string;
}

/**
 * The runs of the runs directory, newest first, filtered by `where`, indexed from 1. Unreadable
 * runs are skipped with a warning on stderr. A missing default runs directory (`~/.gage/runs`
 * before the first run) is an empty list; a missing `GAGE_RUNS`/`RUNS_HOME` is an error.
 */
export async function loadRuns(ctx: CliContext, opts: LoadRunsOptions = {}): Promise<IndexedRun[]> {
  const filter = opts.where ? parseWhere(opts.where) : undefined;
  let runs: Run[];
  try {
    runs = await listRuns(cliRunsDir(ctx), { deleted: opts.deleted ?? false, onWarning: (m) => warn(ctx, m) });
  } catch (err) {
    const explicit = ctx.env.GAGE_RUNS || ctx.env.RUNS_HOME;
    const missing = err instanceof RunsDirError && (err.cause as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
    if (!explicit && missing) return [];
    throw err;
  }
  return (filter ? runs.filter(filter) : runs).map((run, i) => ({ index: i + 1, run }));
}

function pick(indexed: IndexedRun[], runs: Run[]): IndexedRun[] {
  const byRun = new Map(indexed.map((ir) => [ir.run, ir]));
  return runs.map((r) => byRun.get(r)!);
}

/** Runs that `specs` select from the listing (all of them when `specs` is empty). */
export async function selectIndexedRuns(ctx: CliContext, specs: readonly string[], opts: LoadRunsOptions = {}): Promise<IndexedRun[]> {
  return selectFrom(await loadRuns(ctx, opts), specs);
}

/** Runs that `specs` select from `indexed`, keeping their indexes (all of them when `specs` is empty). */
export function selectFrom(indexed: IndexedRun[], specs: readonly string[]): IndexedRun[] {
  return specs.length === 0 ? indexed : pick(indexed, selectRuns(indexed.map((ir) => ir.run), specs));
}

export interface SelectForChangeOptions extends LoadRunsOptions {
  /** `-a/--all`: every run (after `where`) when no spec is given. */
  all?: boolean;
  /** What the command does, for the message when nothing is named: `modify`, `delete`, ... */
  verb: string;
}

/** Runs a command will change, and their positions in the listing (read when a table shows them). */
export interface SelectedRuns {
  runs: Run[];
  indexed: () => Promise<IndexedRun[]>;
}

/**
 * The runs a mutating command acts on. It must name runs or pass `--all` (a usage error
 * otherwise), and something must be selected (`NothingSelectedError`, with the `gage ls` hint).
 * Runs named by id or name prefix are read alone; the whole listing only for their positions.
 */
export async function selectForChange(ctx: CliContext, specs: readonly string[], opts: SelectForChangeOptions): Promise<SelectedRuns> {
  if (specs.length === 0 && !opts.all) {
    throw new UsageError(`Specify a run to ${opts.verb} or use '--all'.`, {
      hint: `Try '${opts.deleted ? "gage ls --deleted" : "gage ls"}' to list runs.`,
    });
  }
  const named = await namedRuns(ctx, specs, opts);
  let selected: SelectedRuns;
  if (named !== undefined) {
    const runs = sortRuns([...new Set(named.flat())]);
    const ids = new Set(runs.map((r) => r.id));
    selected = { runs, indexed: async () => (await loadRuns(ctx, opts)).filter((ir) => ids.has(ir.run.id)) };
  } else {
    const indexed = await selectIndexedRuns(ctx, specs, opts);
    selected = { runs: indexed.map((ir) => ir.run), indexed: async () => indexed };
  }
  if (selected.runs.length === 0) {
    throw new NothingSelectedError("Nothing selected", {
      hint: `Try '${opts.deleted ? "gage ls --deleted" : "gage ls"}' to list runs.`,
    });
  }
  return selected;
}

/** Exactly one run (default: the newest); a spec matching several lists them in the error. */
export async function selectOne(ctx: CliContext, spec: string | undefined, opts: LoadRunsOptions = {}): Promise<IndexedRun> {
  const indexed = await loadRuns(ctx, opts);
  return pick(indexed, [selectOneRun(indexed.map((ir) => ir.run), spec)])[0]!;
}

/**
 * The runs each of `specs` selects when all are id or name prefixes (as `loadRuns` and
 * `selectFrom` would select them, `where` included), found from the runs directory's names:
 * only the runs matched are read. `undefined` when a spec is an index or a slice.
 */
async function namedRuns(ctx: CliContext, specs: readonly string[], opts: LoadRunsOptions): Promise<Run[][] | undefined> {
  if (specs.length === 0) return undefined;
  let named: Awaited<ReturnType<typeof selectByNames>>;
  try {
    named = await selectByNames(cliRunsDir(ctx), specs, { deleted: opts.deleted ?? false, onWarning: (m) => warn(ctx, m) });
  } catch (err) {
    // A missing runs directory: `loadRuns` knows when that is an empty listing.
    if (err instanceof RunsDirError) return undefined;
    throw err;
  }
  if (named === undefined) return undefined;
  const filter = opts.where ? parseWhere(opts.where) : undefined;
  return named.perSpec.map((matched, i) => {
    const kept = filter ? matched.filter(filter) : matched;
    if (kept.length === 0) throw new RunNotFoundError(specs[i]!);
    return kept;
  });
}

/**
 * `selectOne` when the run's position in the listing is not wanted: a run named by id or name
 * prefix is read alone (with the others its prefix matches), not every run of the directory.
 */
export async function findOne(ctx: CliContext, spec: string | undefined, opts: LoadRunsOptions = {}): Promise<Run> {
  const named = spec === undefined ? undefined : await namedRuns(ctx, [spec], opts);
  if (named === undefined) return (await selectOne(ctx, spec, opts)).run;
  const matched = named[0]!;
  if (matched.length > 1) throw new AmbiguousRunError(spec!, matched.map((r) => ({ id: r.id, name: r.name })));
  return matched[0]!;
}

/** `selectIndexedRuns` when positions are not wanted, as `findOne` is to `selectOne`. */
export async function findRuns(ctx: CliContext, specs: readonly string[], opts: LoadRunsOptions = {}): Promise<Run[]> {
  const named = await namedRuns(ctx, specs, opts);
  if (named === undefined) return (await selectIndexedRuns(ctx, specs, opts)).map((ir) => ir.run);
  return sortRuns([...new Set(named.flat())]);
}

export interface RunsTableOptions {
  /** `ls -s`: only `#`, `operation`, `status`, `label`, whatever the width. */
  simplified?: boolean;
  /** Dim every cell, as Gage shows deleted runs. */
  deleted?: boolean;
  caption?: string;
  /** The stream the table goes to (its TTY facts decide the look); default stdout. */
  stream?: OutputStream;
}

const STATUS_COLORS: Record<string, (s: string) => string> = {
  completed: colors.green,
  error: colors.red,
  terminated: colors.red,
  staged: colors.gray,
  pending: colors.gray,
  running: (s) => colors.yellow(colors.italic(s)),
};

// Columns Gage drops as the terminal narrows: (width limit, column indexes dropped).
const TRUNC_POINTS: Array<[number, number[]]> = [
  [28, [2, 3, 4, 5]],
  [45, [3, 4, 5]],
  [60, [5]],
];
const SIMPLE = [0, 2, 4, 5];

/** The runs table of `gage ls` (and of the confirmations of commands that change runs). */
export function renderRunsTable(ctx: CliContext, runs: readonly IndexedRun[], opts: RunsTableOptions = {}): string {
  const t = runsTable(ctx, runs, opts);
  return renderTable(t.columns, t.rows, t.style, t.options);
}

/** `renderRunsTable` written to `opts.stream` (default stdout) in pieces: a 100,000-run listing is never one string. */
export function writeRunsTable(ctx: CliContext, runs: readonly IndexedRun[], opts: RunsTableOptions = {}): void {
  const stream = opts.stream ?? ctx.stdout;
  const t = runsTable(ctx, runs, opts);
  let piece: string[] = [];
  for (const line of tableLines(t.columns, t.rows, t.style, t.options)) {
    piece.push(line);
    if (piece.length === 1000) {
      stream.write(piece.join("\n") + "\n");
      piece = [];
    }
  }
  if (piece.length > 0) stream.write(piece.join("\n") + "\n");
}

function runsTable(ctx: CliContext, runs: readonly IndexedRun[], opts: RunsTableOptions) {
  const style = outputStyle(ctx, opts.stream ?? ctx.stdout);
  const dim = opts.deleted ? colors.dim : undefined;
  const columns: TableColumn[] = [
    { header: "#", color: dim ?? colors.yellow },
    { header: "name", color: dim ?? colors.dim },
    { header: "operation", color: dim ?? colors.cyan },
    { header: "started", color: dim ?? colors.dim },
    { header: "status", color: dim ?? ((text, value) => (STATUS_COLORS[value] ?? String)(text)) },
    { header: "label", ratio: 1, color: dim ?? colors.cyan },
  ];
  let keep: (i: number) => boolean = () => true;
  if (opts.simplified) keep = (i) => SIMPLE.includes(i);
  else {
    const drop = TRUNC_POINTS.find(([limit]) => style.width <= limit)?.[1] ?? [];
    keep = (i) => !drop.includes(i);
  }
  const nowMs = ctx.now().getTime();
  const rows = runs.map(({ index, run }) => {
    const started = run.timestamps.started;
    const cells = [
      String(index),
      run.name.slice(0, 5),
      run.operation,
      started === undefined ? "" : relativeTime(started / 1000, nowMs),
      run.status,
      run.label ?? "",
    ];
    return cells.filter((_, i) => keep(i));
  });
  const options = { expand: true, ...(opts.caption === undefined ? {} : { caption: opts.caption }) };
  return { columns: columns.filter((_, i) => keep(i)), rows, style, options };
}

/** A run as `--json` output shows it. */
export function runJson(ir: IndexedRun): Record<string, unknown> {
  const { run } = ir;
  return {
    index: ir.index,
    id: run.id,
    name: run.name,
    operation: run.operation,
    status: run.status,
    label: run.label ?? null,
    started: run.timestamps.started === undefined ? null : new Date(run.timestamps.started / 1000).toISOString(),
    timestamps: run.timestamps,
    attrs: run.attrs,
    deleted: run.deleted,
  };
}

/** `1 run`, `3 runs`. */
export function runCount(n: number): string {
  return n === 1 ? "1 run" : `${n} runs`;
}

/**
 * Shows what a command will change (the runs table and `message`, on stderr) and asks
 * `Continue?`, unless `yes`. A "no" throws `CancelledError`; no TTY on stdin throws a usage
 * error telling to pass `-y`.
 */
export async function confirmRunsChange(
  ctx: CliContext,
  selected: SelectedRuns,
  opts: { yes?: boolean; message: string; default?: boolean; deleted?: boolean },
): Promise<void> {
  if (opts.yes) return;
  assertCanAsk(ctx);
  ctx.stderr.write(renderRunsTable(ctx, await selected.indexed(), { stream: ctx.stderr, deleted: opts.deleted ?? false }));
  ctx.stderr.write(`${opts.message}\n\n`);
  await confirmOrCancel(ctx, "Continue?", { default: opts.default ?? true });
}
