import { homedir } from "node:os";
import { UsageError } from "../errors.js";
import { openStorage } from "../remotes/open.js";
import type { Storage } from "../remotes/storage.js";
import { readDefaultRemote } from "./local-state.js";

/** Where the outside world is, for resolving remote names, relative paths and credentials. */
export interface RemoteContext {
  /** Resolves relative paths (the library never reads `process.cwd()`). */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  home?: string;
}

/** A remote as sync uses it: the storage, what the user called it, and its URL (redacted). */
export interface OpenRemote {
  storage: Storage;
  /** The name or URL as given (what `clone` records as the default remote). */
  spec: string;
  url: string;
  /** True when sync opened the storage and must close it. */
  owned: boolean;
}

type ResolveRemote = (
  nameOrUrl: string,
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; home?: string },
) => Promise<Storage>;

/**
 * Opens a remote given as a configured name (`[repos.NAME]`), a URL or a path, or wraps an
 * already open `Storage` (which the caller keeps and closes).
 */
export async function openRemote(remote: string | Storage, ctx: RemoteContext = {}): Promise<OpenRemote> {
  if (typeof remote !== "string") return { storage: remote, spec: remote.url, url: remote.url, owned: false };
  const env = ctx.env ?? {};
  const home = ctx.home ?? env.HOME ?? homedir();
  const resolver = await loadResolver();
  const storage = resolver
    ? await resolver(remote, { ...(ctx.cwd !== undefined ? { cwd: ctx.cwd } : {}), env, home })
    : await openStorage(remote, { ...(ctx.cwd !== undefined ? { cwd: ctx.cwd } : {}), env, home });
  return { storage, spec: remote, url: storage.url, owned: true };
}

/** Named remotes come from src/remotes/config when that module provides `resolveRemote`. */
async function loadResolver(): Promise<ResolveRemote | undefined> {
  try {
    const mod = (await import("../remotes/config.js" as string)) as { resolveRemote?: ResolveRemote };
    return mod.resolveRemote;
  } catch {
    return undefined;
  }
}

/** The remote a command names, else the runs directory's default remote. */
export async function remoteOrDefault(runsDir: string, remote: string | Storage | undefined): Promise<string | Storage> {
  if (remote !== undefined && remote !== "") return remote;
  const fallback = await readDefaultRemote(runsDir);
  if (fallback === undefined) {
    throw new UsageError("No remote given, and this runs directory has no default remote", {
      hint: "Name a remote (gage push REMOTE), or set one with 'gage remote default NAME'.",
    });
  }
  return fallback;
}

export async function closeRemote(remote: OpenRemote): Promise<void> {
  if (remote.owned) await remote.storage.close();
}
