import { shortPath } from "../remotes/url.js";

/**
 * Failures of this machine's own files (a full disk, a read-only mount, no permission), which no
 * library error class wraps: a one-line message that says what to do, instead of a stack trace
 * and a request to report a bug. Remote storage errors are typed by the remotes room.
 */
export function systemErrorMessage(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code !== "string") return undefined;
  const where = typeof e.path === "string" ? ` (${shortPath(e.path)})` : "";
  switch (e.code) {
    case "ENOSPC":
    case "EDQUOT":
      return `no space left on the device${where}: free some space and run the command again`;
    case "EROFS":
      return `the file system is read-only${where}: use a writable folder`;
    case "EACCES":
    case "EPERM":
      return `permission denied${where}: check the owner and mode of the folder`;
    case "ENAMETOOLONG":
      return `a path is too long for the file system${where}: use a shorter path`;
    case "EMFILE":
    case "ENFILE":
      return `too many open files: raise the limit (ulimit -n) and run the command again`;
    default:
      return undefined;
  }
}
