import { homedir } from "node:os";
import { isAbsolute } from "node:path";
import { UsageError } from "../errors.js";
import { findRemote, resolveRemote, type GitRemoteSpec, type RemoteContext } from "../remotes/config.js";

export type { RemoteContext };
import { StoreNotFoundError } from "../remotes/errors.js";
import type { Storage } from "../remotes/storage.js";
import { shortPath } from "../remotes/url.js";
import { readDefaultRemote, writeDefaultRemote } from "../state/index.js";

/** A remote as sync uses it: the storage, what the user called it, and its URL (redacted). */
export interface OpenRemote {
  storage: Storage;
  /** The name or URL as given. */
  spec: string;
  url: string;
  /** True when sync opened the storage and must close it. */
  owned: boolean;
  /**
   * Whether pushes deflate objects. Not on a local directory: there deflate was most of a cold
   * push's CPU (more than copying the bytes on many small text files), while the bytes it
   * saves cost less than that CPU to write. Over the network (S3, SSH) fewer bytes pay.
   */
  compress: boolean;
}

function remoteContext(ctx: RemoteContext): { cwd?: string; env: NodeJS.ProcessEnv; home: string } {
  const env = ctx.env ?? {};
  return { ...(ctx.cwd !== undefined ? { cwd: ctx.cwd } : {}), env, home: ctx.home ?? env.HOME ?? homedir() };
}

/**
 * Opens a remote given as a configured name (`[repos.NAME]`), a URL or a path, or wraps an
 * already open `Storage` (which the caller keeps and closes).
 * @throws ConfigError for an unknown name; RemoteUrlError for a bad URL; connection errors for SSH.
 */
export async function openRemote(remote: string | Storage, ctx: RemoteContext = {}): Promise<OpenRemote> {
  if (typeof remote !== "string") return { storage: remote, spec: remote.url, url: remote.url, owned: false, compress: !isLocalUrl(remote.url) };
  const storage = await resolveRemote(remote, remoteContext(ctx));
  return { storage, spec: remote, url: storage.url, owned: true, compress: !isLocalUrl(storage.url) };
}

/** A local directory's storage is named by its absolute path (remotes/url.ts `formatLocation`). */
function isLocalUrl(url: string): boolean {
  return isAbsolute(url) || url.startsWith("file://");
}

/** The remote a command names, else the runs directory's default remote. */
export async function remoteOrDefault(runsDir: string, remote: string | Storage | undefined): Promise<string | Storage> {
  if (remote !== undefined && remote !== "") return remote;
  const fallback = readDefaultRemote(runsDir);
  if (fallback === undefined) {
    throw new UsageError("No remote given, and this runs directory has no default remote", {
      hint: "Name a remote (gage push REMOTE), or set one with 'gage remote default NAME'.",
    });
  }
  return fallback;
}

/**
 * The Git remote a command names (or the runs directory's default remote), or undefined for a
 * store remote (or an open `Storage`): push, pull, clone, status and remote listing choose their
 * path by it. Loads nothing of Git.
 * @throws UsageError when no remote is given and there is no default; ConfigError for an unknown name.
 */
export async function gitRemoteSpec(opts: RemoteContext & { runsDir: string; remote?: string | Storage | undefined }): Promise<GitRemoteSpec | undefined> {
  const remote = await remoteOrDefault(opts.runsDir, opts.remote);
  if (typeof remote !== "string") return undefined;
  const spec = await findRemote(remote, remoteContext(opts));
  return spec.type === "git" ? spec : undefined;
}

/**
 * How a remote is recorded as a default: its configured name, else its URL with a relative path
 * made absolute (so the default holds from any folder).
 */
export async function recordedRemote(remote: string | Storage, ctx: RemoteContext = {}): Promise<string> {
  if (typeof remote !== "string") return remote.url;
  const spec = await findRemote(remote, remoteContext(ctx));
  return spec.name ?? spec.url;
}

/** Sets the runs directory's default remote (`gage remote default NAME`); returns what was recorded. */
export async function setDefaultRemote(runsDir: string, remote: string, ctx: RemoteContext = {}): Promise<string> {
  const recorded = await recordedRemote(remote, ctx);
  writeDefaultRemote(runsDir, recorded);
  return recorded;
}

export async function closeRemote(remote: OpenRemote): Promise<void> {
  if (remote.owned) await remote.storage.close();
}

/**
 * A command that reads a store stops on a remote whose root does not exist: that is a mistaken
 * path, not an empty store (a push creates it).
 * @throws StoreNotFoundError when the backend says the root does not exist.
 */
export async function assertStoreExists(remote: OpenRemote): Promise<void> {
  if ((await remote.storage.rootExists?.()) === false) {
    throw new StoreNotFoundError(remote.url, `No store at ${shortPath(remote.url)}: the folder does not exist`, {
      hint: `Check the path. A push creates a store: gage push ${shortPath(remote.spec)}`,
    });
  }
}
