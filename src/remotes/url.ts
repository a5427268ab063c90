import { existsSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
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

/** Where a Git remote is: an HTTP(S) URL (isomorphic-git's transport) or a local bare repository. */
export type GitLocation =
  | { type: "git"; transport: "http"; /** `https://…` or `http://…`, without `git+` and `#BRANCH` */ url: string; branch?: string }
  | { type: "git"; transport: "file"; /** the bare repository's absolute path */ path: string; branch?: string };

const GIT_FORMS = "git+https://HOST/PATH, git+http://HOST/PATH, git+file:///PATH or the path of a bare repository, each with an optional #BRANCH";

/** True when `path` holds a bare Git repository (`HEAD`, `objects/`, `refs/`). */
export function isBareRepository(path: string): boolean {
  return existsSync(join(path, "HEAD")) && existsSync(join(path, "objects")) && existsSync(join(path, "refs"));
}

/**
 * The one parser of Git remote URLs: `git+https://…`, `git+http://…`, `git+file:///PATH`, or a path
 * (absolute, or relative to `cwd`) of a bare repository, each with an optional `#BRANCH`. Returns
 * `undefined` for anything else (a store remote). SSH Git URLs (`git@HOST:…`, `git+ssh://…`, and
 * `ssh://…` or `USER@HOST:…` naming a `.git` path) throw `RemoteUrlError`: isomorphic-git speaks
 * HTTP(S) only.
 */
export function parseGitUrl(urlOrPath: string, cwd?: string): GitLocation | undefined {
  const text = urlOrPath.trim();
  const hash = text.indexOf("#");
  const base = hash < 0 ? text : text.slice(0, hash);
  const branch = hash < 0 ? undefined : text.slice(hash + 1);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(base)?.[1]?.toLowerCase();
  const scp = scheme === undefined ? SCP_LIKE.exec(base) : null;
  const sshGit =
    scheme === "git+ssh" || scheme === "ssh+git" || (scheme === "ssh" && /\.git\/?$/.test(base)) || (scp !== null && (scp[1] === "git" || /\.git\/?$/.test(scp[3]!)));
  if (sshGit) {
    throw new RemoteUrlError(redactUrl(text), `SSH Git URLs are not supported: '${redactUrl(text)}' (Git remotes are reached over HTTP(S) or as a local bare repository)`, {
      hint: `Use ${GIT_FORMS}. Most Git hosts serve the same repository over HTTPS.`,
    });
  }
  let location: GitLocation | undefined;
  if (scheme === "git+https" || scheme === "git+http") {
    let url: URL;
    try {
      url = new URL(base.slice(4));
    } catch (err) {
      throw new RemoteUrlError(redactUrl(text), `Not a valid URL: '${redactUrl(text)}'`, { cause: err });
    }
    if (url.hostname === "") throw new RemoteUrlError(redactUrl(text), `A Git URL needs a host: '${redactUrl(text)}'`);
    if (url.password !== "") {
      throw new RemoteUrlError(redactUrl(text), "Passwords in Git URLs are not supported", {
        hint: "Put the token in an environment variable named by token_env in [repos.NAME], or in GAGE_GIT_TOKEN.",
      });
    }
    location = { type: "git", transport: "http", url: url.href.replace(/\/$/, "") };
  } else if (scheme === "git+file") {
    const url = new URL(base.slice(4));
    if (url.host !== "" && url.host !== "localhost") throw new RemoteUrlError(text, `A file URL must be local: '${text}'`);
    location = { type: "git", transport: "file", path: fileURLToPath(url) };
  } else if (scheme === undefined && scp === null && base !== "" && (isAbsolute(base) || cwd !== undefined)) {
    const path = isAbsolute(base) ? resolve(base) : resolve(cwd!, base);
    if (isBareRepository(path)) location = { type: "git", transport: "file", path };
  }
  if (location === undefined) {
    if (branch !== undefined && scheme?.startsWith("git+")) throw new RemoteUrlError(text, `Unsupported Git URL '${text}'`, { hint: `Use ${GIT_FORMS}.` });
    return undefined;
  }
  if (branch !== undefined) {
    if (!/^[A-Za-z0-9._/-]+$/.test(branch) || branch.includes("..") || branch.startsWith("/") || branch.endsWith("/") || branch.endsWith(".lock")) {
      throw new RemoteUrlError(redactUrl(text), `Bad branch name '${branch}' in '${redactUrl(text)}'`, { hint: "Name a branch with letters, digits, '.', '_', '-' and '/'." });
    }
    location.branch = branch;
  }
  return location;
}

/** The URL that names a Git location (`#BRANCH` included when set). */
export function formatGitLocation(location: GitLocation): string {
  const base = location.transport === "http" ? `git+${location.url}` : location.path;
  return location.branch === undefined ? base : `${base}#${location.branch}`;
}

/** A path or URL for a one-line message: a long one keeps its start and its end. */
export function shortPath(path: string, max = 80): string {
  return path.length <= max ? path : `${path.slice(0, max / 2 - 1)}…${path.slice(-(max / 2 - 1))}`;
}
