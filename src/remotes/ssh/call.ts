import type { SFTPWrapper } from "ssh2";

/** Rejects when a session's connection closes: set by the storage for each SFTP session. */
export const sessionGone = new WeakMap<object, Promise<never>>();

/**
 * An ssh2 callback call as a promise that also fails when the connection closes: a request sent
 * on a channel that has just closed is never answered, and must not hang its caller.
 */
export function call<T>(on: SFTPWrapper | object, fn: (cb: (err: Error | null | undefined, value: T) => void) => void): Promise<T> {
  const request = new Promise<T>((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
  const gone = sessionGone.get(on);
  return gone ? Promise.race([request, gone]) : request;
}
