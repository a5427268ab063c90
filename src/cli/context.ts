import { userInfo } from "node:os";
import type { Readable, Writable } from "node:stream";
import { runsDirFrom } from "../runs/runs-dir.js";
import type { StartedSums } from "../sync/started-sums.js";
import { endQuietlyOnClosedOutput } from "./closed-output.js";
import { printableLines } from "./printable.js";

/** Output stream with the TTY facts the renderers need. */
export type OutputStream = Writable & { isTTY?: boolean; columns?: number };

/**
 * Everything a command reads from the outside world, injected so tests can control it.
 * Commands never touch `process.*` directly.
 */
export interface CliContext {
  env: NodeJS.ProcessEnv;
  cwd: string;
  stdin: Readable & { isTTY?: boolean };
  stdout: OutputStream;
  stderr: OutputStream;
  now: () => Date;
  /** The status `main` returns when the command completes without throwing. */
  exitCode: number;
  /**
   * Calls `handler` on SIGINT or SIGTERM instead of the default exit, until the returned
   * function is called: long commands stop their children and leave clean state behind.
   */
  onInterrupt: (handler: (signal: NodeJS.Signals) => void) => () => void;
  /** The runs' folders being summed up since the process started (bin.ts), for push, pull and status. */
  startedSums?: StartedSums;
}

export function processContext(): CliContext {
  const interruptHandlers = new Set<(signal: NodeJS.Signals) => void>();
  endQuietlyOnClosedOutput(process.stdout, process.stderr, {
    interrupt: () => {
      for (const handler of interruptHandlers) handler("SIGPIPE");
      return interruptHandlers.size > 0;
    },
    exit: (status) => process.exit(status),
  });
  return {
    env: process.env,
    cwd: process.cwd(),
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    now: () => new Date(),
    exitCode: 0,
    onInterrupt: (handler) => {
      interruptHandlers.add(handler);
      process.on("SIGINT", handler);
      process.on("SIGTERM", handler);
      return () => {
        interruptHandlers.delete(handler);
        process.off("SIGINT", handler);
        process.off("SIGTERM", handler);
      };
    },
  };
}

/** The runs directory for this invocation, absolute (relative `GAGE_RUNS` is taken from the cwd). */
export function cliRunsDir(ctx: CliContext): string {
  return runsDirFrom(ctx.cwd, ctx.env);
}

/**
 * The author of user log entries: as Python's `getpass.getuser()` (`LOGNAME`, `USER`, `LNAME`,
 * `USERNAME`, then the OS account), so tests set it through the environment.
 */
export function cliAuthor(ctx: CliContext): string {
  return ctx.env.LOGNAME || ctx.env.USER || ctx.env.LNAME || ctx.env.USERNAME || userInfo().username;
}

/** Writes a warning line to stderr. */
export function warn(ctx: CliContext, msg: string): void {
  ctx.stderr.write(`gage: warning: ${printableLines(msg)}\n`);
}
