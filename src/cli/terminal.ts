import type { CliContext, OutputStream } from "./context.js";

/** How output should look on a stream: width, plain ASCII or boxed, colored or not. */
export interface OutputStyle {
  /** Columns to fill: `$COLUMNS`, else the terminal's width, else 80 (as Python's rich). */
  width: number;
  /** Markdown-style ASCII tables with no color: not a TTY, or `TERM` is `dumb` or `unknown`. */
  plain: boolean;
  /** ANSI colors: a TTY that is not plain, and `NO_COLOR` unset. */
  color: boolean;
}

export function outputStyle(ctx: CliContext, stream: OutputStream = ctx.stdout): OutputStyle {
  const fromEnv = Number.parseInt(ctx.env.COLUMNS ?? "", 10);
  const width = fromEnv > 0 ? fromEnv : stream.isTTY && stream.columns ? stream.columns : 80;
  const plain = !stream.isTTY || ctx.env.TERM === "dumb" || ctx.env.TERM === "unknown";
  const color = !plain && !ctx.env.NO_COLOR;
  return { width, plain, color };
}
