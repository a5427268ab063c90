import { Command, CommanderError } from "commander";
import { createRequire } from "node:module";
import { GageError } from "../errors.js";
import type { ConflictError } from "../sync/errors.js";
import { commands, commandsFor } from "./commands/index.js";
import { processContext, type CliContext } from "./context.js";
import { EXIT, exitCodeFor } from "./exit-codes.js";
import { printableLines } from "./printable.js";
import { systemErrorMessage } from "./system-errors.js";

// The bin makes the context itself, to hand it the sums it started (bin.ts).
export { processContext } from "./context.js";

const version: string = createRequire(import.meta.url)("../../package.json").version;

/** The program with the commands `argv` needs (all of them when `argv` is omitted). */
export async function buildProgram(ctx: CliContext, argv?: readonly string[]): Promise<Command> {
  const program = new Command("gage")
    .description("Share and back up Gage runs: push, pull, clone and copy them through remotes")
    .version(version, "-V, --version")
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
    })
    .exitOverride();
  const needed = argv === undefined ? commands : commandsFor(argv);
  for (const register of await Promise.all(needed.map((c) => c.load()))) register(program, ctx);
  return program;
}

/** Runs the CLI and returns the exit status. The one place errors become messages. */
export async function main(argv: string[], ctx: CliContext = processContext()): Promise<number> {
  const wantsJson = argv.includes("--json");
  try {
    const program = await buildProgram(ctx, argv);
    await program.parseAsync(argv, { from: "user" });
    return ctx.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has already printed its message (or the help text)
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof GageError) {
      if (wantsJson) {
        ctx.stdout.write(
          JSON.stringify({ error: { code: err.code, message: err.message, hint: err.hint ?? null, ...(err.code === "CONFLICT" ? { conflicts: (err as ConflictError).conflicts } : {}) } }) + "\n",
        );
      }
      // Messages name runs, labels and paths that may come from a remote.
      ctx.stderr.write(`gage: ${printableLines(err.message)}\n`);
      if (err.hint) ctx.stderr.write(`${printableLines(err.hint)}\n`);
      return exitCodeFor(err.code);
    }
    const system = systemErrorMessage(err);
    if (system !== undefined) {
      const code = (err as NodeJS.ErrnoException).code!;
      if (wantsJson) ctx.stdout.write(JSON.stringify({ error: { code, message: system, hint: null } }) + "\n");
      ctx.stderr.write(`gage: ${printableLines(system)}\n`);
      return EXIT.error;
    }
    const e = err instanceof Error ? err : new Error(String(err));
    ctx.stderr.write(`${printableLines(e.stack ?? e.message)}\n`);
    ctx.stderr.write(
      `gage: unexpected error; please report it with this output (gage-sync ${version}, node ${process.version}, ${process.platform})\n`,
    );
    return EXIT.error;
  }
}
