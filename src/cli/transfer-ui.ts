import { createRequire } from "node:module";
import { confirmOrCancel } from "./confirm.js";
import type { CliContext, OutputStream } from "./context.js";
import { printable, printableLines } from "./printable.js";
import type { TableColumn } from "./table.js";
import { outputStyle } from "./terminal.js";

/**
 * The user-facing side of every command that moves runs (copy, push, pull, clone): a preview of
 * what will move, a confirmation, `--dry-run`, a progress bar on a TTY, a one-line summary, and
 * `--json` for scripts. Commands plan with the library, hand the plan's rows here, and pass an
 * `execute` callback that runs the transfer and reports progress.
 */

/** The options every transfer command takes. */
export interface TransferUiOptions {
  /** `-y/--yes`: do not ask. */
  yes?: boolean;
  /** `--dry-run`: show what would move, move nothing. */
  dryRun?: boolean;
  /** `--json`: one JSON document on stdout instead of tables and messages. */
  json?: boolean;
  /** `--verbose`: the preview lists every run, not only the first screenful. */
  verbose?: boolean;
}

/** One line of the preview table: a run and what will move for it. */
export interface TransferPreviewRow {
  /** The run's id; the table shows its name's first 5 letters when `name` is given. */
  id: string;
  name?: string;
  operation: string;
  label: string;
  /** What moves: `new`, `update`, `user +2`, `meta`, ... */
  what: string;
  /** Bytes that will move for this run. */
  bytes: number;
  /** Files (or objects) that will move for this run. */
  files: number;
}

/** What the progress bar counts; the library's progress events map onto these calls. */
export interface TransferProgress {
  /** Sets (or raises) the totals; may be called again when the totals become known. */
  setTotal(total: { files: number; bytes: number }): void;
  /** Records finished work: whole files (objects) and bytes. */
  advance(files: number, bytes: number): void;
  /** Removes the bar. Always called, also on failure. */
  stop(): void;
}

export interface TransferFlow<R> {
  /** Says where the runs go, for the confirmation: `copy 2 runs to /data/runs`. */
  action: string;
  /** What moves, one row per run; the preview renders only the rows it shows. */
  rows: readonly TransferPreviewRow[];
  /** Message when `rows` is empty: e.g. `Nothing copied, runs are up-to-date`. */
  nothingMessage: string;
  /** Runs the transfer. Called once, after confirmation, never under `--dry-run`. */
  execute(progress: TransferProgress): Promise<R>;
  /** The summary line once `execute` is done: e.g. `Copied 1 run`. */
  summary(result: R): string;
  /** The `--json` document; `result` is undefined for a dry run or when nothing moves. */
  json(result: R | undefined): unknown;
  /** Unit the progress bar counts (default `files`). */
  unit?: string;
}

/**
 * Runs one transfer through the shared UX. Returns `execute`'s result, or undefined when nothing
 * moved (empty plan, dry run). Messages go to stderr, tables and JSON to stdout.
 *
 * @throws UsageError when confirmation is needed but stdin is not a TTY (asks for `-y`).
 * @throws CancelledError when the user declines.
 */
export async function runTransfer<R>(ctx: CliContext, opts: TransferUiOptions, flow: TransferFlow<R>): Promise<R | undefined> {
  if (flow.rows.length === 0) {
    if (opts.json) writeJson(ctx, flow.json(undefined));
    else ctx.stderr.write(`${flow.nothingMessage}\n`);
    return undefined;
  }
  if (opts.dryRun) {
    if (opts.json) writeJson(ctx, flow.json(undefined));
    else {
      ctx.stdout.write(`Would ${printable(flow.action)}:\n${await renderTransferPreview(flow.rows, ctx, ctx.stdout, opts)}`);
      ctx.stderr.write(`Dry run: nothing was transferred\n`);
    }
    return undefined;
  }
  if (!opts.yes) {
    await confirmTransfer(ctx, `You are about to ${printable(flow.action)}:\n${await renderTransferPreview(flow.rows, ctx, ctx.stderr, opts)}`);
  }
  const progress = createTransferProgress(ctx, { enabled: !opts.json, unit: flow.unit, total: totals(flow.rows) });
  let result: R;
  try {
    result = await flow.execute(progress);
  } finally {
    progress.stop();
  }
  if (opts.json) writeJson(ctx, flow.json(result));
  else ctx.stderr.write(`${printableLines(flow.summary(result))}\n`);
  return result;
}

export function totals(rows: readonly TransferPreviewRow[]): { runs: number; files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const r of rows) {
    files += r.files;
    bytes += r.bytes;
  }
  return { runs: rows.length, files, bytes };
}

/** Rows a preview shows without `--verbose`: a screenful, whatever the size of the transfer. */
export const PREVIEW_ROWS = 20;

/**
 * The preview table (as Gage's run tables: plain on a non-TTY), then a total line. Past
 * {@link PREVIEW_ROWS} runs it shows the first ones and `… and N more runs` (all with
 * `verbose`): only the rows shown are rendered, so a transfer of 100,000 runs costs a screenful
 * of table. The table code loads here, not with the command: a transfer with nothing to do
 * never draws one.
 */
export async function renderTransferPreview(
  rows: readonly TransferPreviewRow[],
  ctx: CliContext,
  stream: OutputStream = ctx.stdout,
  opts: { verbose?: boolean } = {},
): Promise<string> {
  const { renderTable } = await import("./table.js");
  const columns: TableColumn[] = [
    { header: "#", keepWidth: true },
    { header: "run", keepWidth: true },
    { header: "operation" },
    { header: "label", ratio: 1 },
    { header: "what", keepWidth: true },
    { header: "size", justify: "right", keepWidth: true },
  ];
  const shown = opts.verbose || rows.length <= PREVIEW_ROWS ? rows : rows.slice(0, PREVIEW_ROWS);
  const body = shown.map((r, i) => [
    String(i + 1),
    (r.name ?? r.id).slice(0, 5),
    r.operation,
    r.label,
    r.what,
    formatBytes(r.bytes),
  ]);
  const t = totals(rows);
  const table = renderTable(columns, body, outputStyle(ctx, stream));
  const hidden = rows.length - shown.length;
  const more = hidden > 0 ? `… and ${plural(hidden, "more run", "more runs")} (--verbose lists them all)\n` : "";
  return `${table}${more}${plural(t.runs, "run")}, ${plural(t.files, "file")}, ${formatBytes(t.bytes)}\n`;
}

/**
 * Runs `plan` (comparing runs with a remote: a walk of every local file, seconds for a large
 * runs directory) with a status line on stderr when it is a terminal, cleared once planning ends.
 */
export async function whilePlanning<T>(ctx: CliContext, opts: Pick<TransferUiOptions, "json">, status: string, plan: () => Promise<T>): Promise<T> {
  const show = !opts.json && ctx.stderr.isTTY === true;
  if (show) ctx.stderr.write(`${status}…`);
  try {
    return await plan();
  } finally {
    if (show) ctx.stderr.write("\r\x1b[K");
  }
}

/**
 * Shows `question` (the preview) on stderr and asks `Continue? (Y/n)`.
 *
 * @throws UsageError when stdin is not a TTY: a script must say `-y`, it must never hang.
 * @throws CancelledError when the answer is no.
 */
export async function confirmTransfer(ctx: CliContext, question: string): Promise<void> {
  if (ctx.stdin.isTTY) ctx.stderr.write(question);
  await confirmOrCancel(ctx, "Continue?");
}

/**
 * A progress bar (files, bytes, rate, ETA) on stderr when it is a TTY; otherwise, or when not
 * `enabled`, an object that only counts, so that scripts and logs never see control sequences.
 */
export function createTransferProgress(
  ctx: Pick<CliContext, "stderr" | "now">,
  opts: { enabled?: boolean; unit?: string | undefined; total?: { files: number; bytes: number } } = {},
): TransferProgress {
  const unit = opts.unit ?? "files";
  let files = 0;
  let bytes = 0;
  let total = opts.total ?? { files: 0, bytes: 0 };
  if (opts.enabled === false || !ctx.stderr.isTTY) {
    return {
      setTotal: (t) => void (total = t),
      advance: (f, b) => {
        files += f;
        bytes += b;
      },
      stop: () => {},
    };
  }
  const started = ctx.now().getTime();
  // Loaded only for a terminal, where the bar is drawn.
  const cliProgress = createRequire(import.meta.url)("cli-progress") as typeof import("cli-progress");
  const bar = new cliProgress.SingleBar(
    {
      stream: ctx.stderr,
      format: `{bar} {percentage}% | {files}/{totalFiles} ${unit} | {done}/{size} | {rate}/s | ETA {eta_formatted}`,
      // A hidden cursor would stay hidden after Ctrl-C.
      hideCursor: false,
      clearOnComplete: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const payload = () => {
    const seconds = Math.max(0.001, (ctx.now().getTime() - started) / 1000);
    return {
      files: formatCount(files),
      totalFiles: formatCount(total.files),
      done: formatBytes(bytes),
      size: formatBytes(total.bytes),
      rate: formatBytes(bytes / seconds),
    };
  };
  bar.start(Math.max(1, total.bytes), 0, payload());
  return {
    setTotal(t) {
      total = t;
      bar.setTotal(Math.max(1, t.bytes));
      bar.update(bytes, payload());
    },
    advance(f, b) {
      files += f;
      bytes += b;
      bar.update(bytes, payload());
    },
    stop() {
      bar.stop();
    },
  };
}

/** Sizes as Gage shows them: decimal units, one decimal (`5.2 MB`); below 1000 `N B`. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${Math.round(n)} B`;
  const units = ["kB", "MB", "GB", "TB", "PB"];
  let v = n / 1000;
  let u = 0;
  while (v >= 999.95 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/** `1,204`. */
// Grouped by hand: the first toLocaleString loads ICU's number data, a visible part of a short command.
export function formatCount(n: number): string {
  const digits = String(Math.abs(Math.round(n)));
  const grouped = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return n < 0 && grouped !== "0" ? `-${grouped}` : grouped;
}

/** `1 run`, `3 runs`, `1,204 objects`. */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${formatCount(n)} ${n === 1 ? word : many}`;
}

/**
 * The summary line: `Copied 1 run`, or with details and runs that needed nothing,
 * `Pushed 3 runs (41.2 MB, 1,204 objects; 2 runs already up to date)`.
 */
export function transferSummary(verb: string, runs: number, opts: { details?: string[]; upToDate?: number } = {}): string {
  const parts: string[] = [];
  if (opts.details && opts.details.length > 0) parts.push(opts.details.join(", "));
  if (opts.upToDate) parts.push(`${plural(opts.upToDate, "run")} already up to date`);
  return `${verb} ${plural(runs, "run")}${parts.length > 0 ? ` (${parts.join("; ")})` : ""}`;
}

/** `Nothing copied, runs are up-to-date`. */
export function nothingMessage(verb: string): string {
  return `Nothing ${verb}, runs are up-to-date`;
}

function writeJson(ctx: Pick<CliContext, "stdout">, value: unknown): void {
  ctx.stdout.write(JSON.stringify(value, null, 2) + "\n");
}
