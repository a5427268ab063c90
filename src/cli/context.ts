import type { Readable, Writable } from "node:stream";

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
}

export function processContext(): CliContext {
  return {
    env: process.env,
    cwd: process.cwd(),
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    now: () => new Date(),
    exitCode: 0,
    onInterrupt: (handler) => {
      process.on("SIGINT", handler);
      process.on("SIGTERM", handler);
      return () => {
        process.off("SIGINT", handler);
        process.off("SIGTERM", handler);
      };
    },
  };
}
