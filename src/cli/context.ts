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
  };
}
