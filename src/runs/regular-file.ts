import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from "node:fs";
import { RunSymlinkError } from "./errors.js";

/** Meta and user-log files are a few bytes to a few MB; a bigger one is damaged or hostile. */
export const MAX_RUN_FILE_BYTES = 64 * 1024 * 1024;

/** A path that is there but is not a regular file (a FIFO, a device, a folder) or is too big. */
export class NotRegularFileError extends Error {
  override name = "NotRegularFileError";
  constructor(readonly path: string, readonly why: string) {
    super(`${path} ${why}`);
  }
}

/**
 * Reads a regular file whole, never blocking: opened non-blocking, so a FIFO in its place cannot
 * hang the reader, then checked to be a regular file of at most `maxBytes`. Errors from the
 * system (ENOENT, EACCES...) are thrown as they are.
 * @throws NotRegularFileError for anything but a regular file, or one over `maxBytes`.
 */
export function readRegularFileSync(path: string, maxBytes = MAX_RUN_FILE_BYTES): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new NotRegularFileError(path, "is not a regular file");
    if (st.size > maxBytes) throw new NotRegularFileError(path, `is ${st.size} bytes, more than ${maxBytes}`);
    const out = Buffer.allocUnsafe(st.size);
    let got = 0;
    while (got < out.length) {
      const n = readSync(fd, out, got, out.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return got === out.length ? out : out.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/**
 * Throws unless each of `paths` is absent or not a symlink: nothing is ever written through a
 * symlink in a runs directory (an `ID.user` linked elsewhere, a dangling `ID` or `ID.meta`).
 * @throws RunSymlinkError naming the first symlink found.
 */
export function refuseSymlinks(paths: readonly string[]): void {
  for (const path of paths) {
    if (lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink()) throw new RunSymlinkError(path);
  }
}
