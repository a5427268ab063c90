import { existsSync } from "node:fs";
import type { Storage } from "../remotes/storage.js";
import { UsageError } from "../errors.js";
import { StatCache } from "../objects/index.js";
import { refreshView, type RemoteView } from "./heads.js";
import { readCachedView, statCachePath, writeCachedView } from "./local-state.js";
import { closeRemote, openRemote, remoteOrDefault, type OpenRemote, type RemoteContext } from "./remote.js";

/** The parts of a run a transfer may be limited to (`--only meta,user,files`). */
export type RunPart = "meta" | "user" | "files";
export const RUN_PARTS: readonly RunPart[] = ["meta", "user", "files"];

/** What every progress callback receives: work done since the last event. */
export interface SyncProgressEvent {
  phase: "scan" | "upload" | "download";
  /** Files (or objects) finished since the last event. */
  files: number;
  bytes: number;
  /** Set once the totals are known (`upload`: after planning). */
  total?: { files: number; bytes: number };
}

/** Options common to push, pull, status and remote listing. */
export interface SyncOptions extends RemoteContext {
  /** The local runs directory (absolute). */
  runsDir: string;
  /** A configured remote name, URL or path, or an open `Storage`. Omitted: the runs directory's default remote. */
  remote?: string | Storage;
  /** Run specs (index, slice, id or name prefix). None: all runs. */
  runs?: readonly string[];
  /** A `-w/--where` expression. */
  where?: string;
  /** Move only these parts (default all). */
  only?: readonly RunPart[];
  /** On a true divergence, keep this side's files and metadata instead of stopping. */
  force?: boolean;
  /** Clock (ms since the epoch); names heads. */
  now?: () => number;
  /**
   * Threads that compare local runs with the stat cache: this one, plus workers when more than
   * one. Default: one with the native addon (it sums folders up on every core itself) or on two
   * cores or fewer, else every core (`defaultScanThreads`).
   */
  scanThreads?: number;
  onProgress?: (event: SyncProgressEvent) => void;
  onWarning?: (message: string) => void;
}

/** One run in a transfer's plan: what the preview table shows. */
export interface PlannedRun {
  id: string;
  name: string;
  operation: string;
  label: string;
  /** What moves: `new`, `files, meta`, `user +2`, ... */
  what: string;
  /** Files and bytes of the parts that move (an upper bound: objects already there are skipped). */
  files: number;
  bytes: number;
}

/** A planned transfer: inspect `runs`, then `execute` it or `close` it. */
export interface TransferPlan<R> {
  /** The remote's URL (secrets redacted). */
  remote: string;
  runs: PlannedRun[];
  /** Selected runs that need nothing. */
  upToDate: number;
  /** Runs the transfer with the remote still open, then closes it. */
  execute(onProgress?: (event: SyncProgressEvent) => void): Promise<R>;
  /** Releases the remote without transferring (dry run, declined confirmation). */
  close(): Promise<void>;
}

/** An open remote with its view and the local stat cache, shared by the steps of one command. */
export interface Session {
  runsDir: string;
  remote: OpenRemote;
  view: RemoteView;
  /** The view learned something since it was read from the cache (it is saved only then). */
  viewChanged: boolean;
  cache: StatCache;
  now: () => number;
  only: ReadonlySet<RunPart>;
  closed: boolean;
}

export function checkOnly(only: readonly string[] | undefined): Set<RunPart> {
  if (only === undefined || only.length === 0) return new Set(RUN_PARTS);
  for (const p of only) {
    if (!RUN_PARTS.includes(p as RunPart)) throw new UsageError(`Unknown part '${p}' in --only`, { hint: "Use --only with meta, user and files, comma separated." });
  }
  return new Set(only as RunPart[]);
}

/** Opens the remote, loads the stat cache, and brings the cached view of its heads up to date. */
export async function openSession(opts: SyncOptions): Promise<Session> {
  const only = checkOnly(opts.only);
  // The stat cache is read while the remote opens and lists its heads (an SSH login, S3 calls).
  const loading = StatCache.load(statCachePath(opts.runsDir));
  loading.catch(() => undefined);
  const remote = await openRemote(await remoteOrDefault(opts.runsDir, opts.remote), opts);
  try {
    const view = await readCachedView(opts.runsDir, remote.url);
    const now = opts.now ?? Date.now;
    const { fetched } = await refreshView(remote.storage, view, now());
    const cache = await loading;
    return { runsDir: opts.runsDir, remote, view, viewChanged: fetched > 0, cache, now, only, closed: false };
  } catch (err) {
    await closeRemote(remote);
    throw err;
  }
}

/** Saves what the session learned (view, stat cache) and closes the remote; again is a no-op. */
export async function closeSession(s: Session, save: boolean): Promise<void> {
  if (s.closed) return;
  s.closed = true;
  try {
    // A command that found no runs directory (ls --remote elsewhere) does not create one.
    if (save && existsSync(s.runsDir)) {
      if (s.viewChanged) await writeCachedView(s.runsDir, s.remote.url, s.view);
      if (s.cache.dirty) await s.cache.save(statCachePath(s.runsDir));
    }
  } finally {
    await closeRemote(s.remote);
  }
}
