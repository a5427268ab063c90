import { NotFoundError, PermissionError, RemoteConflictError, UnreachableError } from "../errors.js";
import { BrokenTransferError } from "../streams.js";

/** SFTP status codes (draft-ietf-secsh-filexfer-02), as ssh2 reports them in `err.code`. */
export const SFTP_NO_SUCH_FILE = 2;
const SFTP_PERMISSION_DENIED = 3;
const SFTP_NO_CONNECTION = 6;
const SFTP_CONNECTION_LOST = 7;

const NETWORK = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);
const DISCONNECTED = /no response from server|not connected|connection lost|timed out while waiting for handshake|keepalive timeout|socket (?:hang up|closed)|channel (?:open failure|closed)|unable to start subsystem/i;

/** An ssh2 / SFTP / socket error as the `Storage` error it means; unknown errors pass through. */
export function mapSftpError(err: unknown, url: string, key?: string): unknown {
  const e = (err ?? {}) as { code?: unknown; message?: string; level?: string };
  const options = { key, cause: err };
  if (err instanceof NotFoundError || err instanceof UnreachableError) return err;
  if (e.code === SFTP_NO_SUCH_FILE) return new NotFoundError(url, key ?? "", { cause: err });
  if (e.code === SFTP_PERMISSION_DENIED) {
    return new PermissionError(url, `The SSH server denied access to ${key ? `'${key}' in ` : ""}${url}`, options);
  }
  if (e.code === "ENOTDIR") {
    return new RemoteConflictError(url, `'${key}' collides with a file or folder in ${url}`, options);
  }
  if (err instanceof BrokenTransferError) {
    return new UnreachableError(url, `Reading ${key ? `'${key}' from ` : ""}${url} failed: ${err.message}`, options);
  }
  if (
    e.code === SFTP_NO_CONNECTION ||
    e.code === SFTP_CONNECTION_LOST ||
    (typeof e.code === "string" && NETWORK.has(e.code)) ||
    e.level === "client-socket" ||
    e.level === "client-timeout" ||
    DISCONNECTED.test(e.message ?? "")
  ) {
    const why = typeof e.code === "string" ? e.code : e.message;
    return new UnreachableError(url, `Cannot reach the SSH server for ${url}: ${why}`, options);
  }
  return err;
}
