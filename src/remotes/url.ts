import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { RemoteUrlError } from "./errors.js";

/** Where a storage is, as parsed from a URL or path by `parseStorageUrl`. */
export type StorageLocation =
  | { type: "local"; path: string }
  | { type: "s3"; bucket: string; /** "" or ending in "/" */ prefix: string }
  | { type: "ssh"; user?: string; host: string; port?: number; /** absolute, or relative to the login folder */ path: string }
  | { type: "memory"; name: string };

export type StorageType = StorageLocation["type"];

const SCP_LIKE = /^([^@/:\s]+)@([^/:\s]+):(.*)$/;

/**
 * The one parser of storage URLs. Accepts a path (absolute, or relative to `cwd`), `file://PATH`,
 * `s3://BUCKET[/PREFIX]`, `ssh://[USER@]HOST[:PORT]/PATH` (`/~/PATH` is relative to the login
 * folder), `USER@HOST:PATH` (scp style; a relative PATH is relative to the login folder) and
 * `memory://NAME`. Anything else throws `RemoteUrlError`.
 */
export function parseStorageUrl(urlOrPath: string, cwd?: string): StorageLocation {
  const text = urlOrPath.trim();
  if (text === "") throw new RemoteUrlError(urlOrPath, "A remote URL or path may not be empty");
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    const scp = SCP_LIKE.exec(text);
    if (scp) return { type: "ssh", user: scp[1], host: scp[2]!, path: scp[3] === "" ? "." : scp[3]! };
    if (isAbsolute(text)) return { type: "local", path: resolve(text) };
    if (cwd === undefined) {
      throw new RemoteUrlError(text, `A relative path needs a working folder to resolve against: '${text}'`);
    }
    return { type: "local", path: resolve(cwd, text) };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch (err) {
    throw new RemoteUrlError(redactUrl(text), `Not a valid URL: '${redactUrl(text)}'`, { cause: err });
  }
  switch (scheme) {
    case "file":
      if (url.host !== "" && url.host !== "localhost") {
        throw new RemoteUrlError(text, `A file URL must be local: '${text}'`);
      }
      return { type: "local", path: fileURLToPath(url) };
    case "s3": {
      if (url.hostname === "") throw new RemoteUrlError(text, `An S3 URL needs a bucket: '${text}'`);
      const prefix = decodeURIComponent(url.pathname).replace(/^\/+/, "").replace(/\/+$/, "");
      return { type: "s3", bucket: url.hostname, prefix: prefix === "" ? "" : `${prefix}/` };
    }
    case "ssh": {
      if (url.hostname === "") throw new RemoteUrlError(redactUrl(text), `An SSH URL needs a host: '${redactUrl(text)}'`);
      if (url.password !== "") {
        throw new RemoteUrlError(redactUrl(text), "Passwords in SSH URLs are not supported", {
          hint: "Use a key, ssh-agent or an IdentityFile in ~/.ssh/config.",
        });
      }
      const path = decodeURIComponent(url.pathname);
      const location: StorageLocation = {
        type: "ssh",
        host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
        path: path.startsWith("/~/") ? path.slice(3) || "." : path === "/~" || path === "" ? "." : path,
      };
      if (url.username !== "") location.user = decodeURIComponent(url.username);
      if (url.port !== "") location.port = Number(url.port);
      return location;
    }
    case "memory":
      return { type: "memory", name: url.hostname || "default" };
    default:
      throw new RemoteUrlError(redactUrl(text), `Unsupported remote URL scheme '${scheme}://'`);
  }
}

/** The URL that names a location, as `Storage.url` reports it. */
export function formatLocation(location: StorageLocation): string {
  switch (location.type) {
    case "local":
      return location.path;
    case "s3":
      return `s3://${location.bucket}/${location.prefix}`.replace(/\/$/, "");
    case "ssh": {
      const user = location.user === undefined ? "" : `${encodeURIComponent(location.user)}@`;
      const port = location.port === undefined ? "" : `:${location.port}`;
      const path = location.path.startsWith("/") ? location.path : `/~/${location.path}`;
      return `ssh://${user}${location.host}${port}${path}`;
    }
    case "memory":
      return `memory://${location.name}`;
  }
}

/** `text` with any password in a URL's user info, and secret-looking query values, replaced. */
export function redactUrl(text: string): string {
  return text
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:\s]*):[^/@\s]*@/i, "$1:***@")
    .replace(/([?&](?:[^=&]*(?:secret|token|password|key)[^=&]*)=)[^&#]*/gi, "$1***");
}

/** A path or URL for a one-line message: a long one keeps its start and its end. */
export function shortPath(path: string, max = 80): string {
  return path.length <= max ? path : `${path.slice(0, max / 2 - 1)}…${path.slice(-(max / 2 - 1))}`;
}
