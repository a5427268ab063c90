import type { OutputStream } from "./context.js";

/**
 * The exit status when the reader of stdout goes away (`gage ls | head`): 128 + SIGPIPE, what a
 * shell reports for `cat` or `git log` ended the same way, so `set -o pipefail` scripts see that
 * the command did not run to its end.
 */
export const CLOSED_STDOUT_EXIT = 141;

/**
 * Ends the process quietly when `stdout`'s reader has closed the pipe (EPIPE), instead of an
 * unhandled 'error' event and a stack trace. Node ignores SIGPIPE, so without this every write
 * after `head` exits would throw. When a command is holding work that must be wound down (a
 * running operation), `interrupt` is called instead and the command ends as on Ctrl-C; its
 * further output is dropped. A closed stderr drops messages and lets the command finish.
 */
export function endQuietlyOnClosedOutput(
  stdout: OutputStream,
  stderr: OutputStream,
  opts: { interrupt: () => boolean; exit: (status: number) => void },
): void {
  let closed = false;
  stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE" && !closed) throw err;
    if (closed) return;
    closed = true;
    if (!opts.interrupt()) opts.exit(CLOSED_STDOUT_EXIT);
  });
  stderr.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
  });
}
