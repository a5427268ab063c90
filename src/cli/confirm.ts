import { CancelledError, UsageError } from "../errors.js";
import type { CliContext } from "./context.js";

export interface ConfirmOptions {
  /** `-y/--yes` was given: do not ask. */
  yes?: boolean;
  /** The answer an empty line gives (Gage: yes, except for permanent deletes). */
  default?: boolean;
}

/**
 * Asks `PROMPT (Y/n) ` on stderr and reads the answer from stdin. With `yes` it returns true
 * without asking. With no TTY on stdin it never waits for an answer: it throws a `UsageError`
 * telling to pass `-y`. End of input counts as no.
 */
export async function confirm(ctx: CliContext, prompt: string, opts: ConfirmOptions = {}): Promise<boolean> {
  if (opts.yes) return true;
  assertCanAsk(ctx);
  const dflt = opts.default ?? true;
  // Loaded to ask only: most commands run with -y or ask nothing.
  const { createInterface } = await import("node:readline");
  const rl = createInterface({ input: ctx.stdin, output: ctx.stderr, terminal: false });
  const lines = rl[Symbol.asyncIterator]();
  try {
    for (;;) {
      ctx.stderr.write(`${prompt} ${dflt ? "(Y/n)" : "(y/N)"} `);
      const next = await lines.next();
      if (next.done) {
        ctx.stderr.write("\n");
        return false;
      }
      const answer = String(next.value).trim().toLowerCase();
      if (answer === "") return dflt;
      if (answer === "y" || answer === "yes") return true;
      if (answer === "n" || answer === "no") return false;
      ctx.stderr.write("Please enter Y or N\n");
    }
  } finally {
    rl.close();
  }
}

/**
 * Throws the "pass -y" usage error when stdin is not a TTY. Call it before printing a preview,
 * so a script that forgot `-y` fails at once.
 */
export function assertCanAsk(ctx: CliContext): void {
  if (!ctx.stdin.isTTY) {
    throw new UsageError("Cannot ask for confirmation: standard input is not a terminal", {
      hint: "Pass -y to go ahead without asking.",
    });
  }
}

/** As `confirm`, but a "no" throws `CancelledError` (exit status 130). */
export async function confirmOrCancel(ctx: CliContext, prompt: string, opts: ConfirmOptions = {}): Promise<void> {
  if (!(await confirm(ctx, prompt, opts))) throw new CancelledError();
}
