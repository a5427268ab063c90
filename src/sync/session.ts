import { existsSync } from "node:fs";
import { isRunId } from "../runs/layout.js";
import type { Storage } from "../remotes/storage.js";
import { UsageError } from "../errors.js";
import type { ConflictError } from "./errors.js";
import { StatCache } from "../worktree/index.js";
import { emptyView, refreshView, type RemoteView } from "./heads.js";
import { RemoteState, statePaths } from "../state/index.js";
import { namesStill, type RunsDirListing } from "./local-runs.js";
import type { InSyncState } from "./in-sync.js";
import type { StartedSums } from "./started-sums.js";
import { decodeView, encodeViewFile } from "./view-file.js";
import { CachedViewDamaged } from "./view-blocks.js";
import { assertStoreExists, closeRemote, openRemote, remoteOrDefault, type OpenRemote, type RemoteContext } from "./remote.js";

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
  /** Clock (ms since the epoch): names heads, and says which file stamps are too recent to trust. */
  now?: () => number;
  /**
   * Threads that compare local runs with the stat cache: this one, plus workers when more than
   * one. Default: one with the native addon (it sums folders up on every core itself) or on two
   * cores or fewer, else every core (`defaultScanThreads`).
   */
  scanThreads?: number;
  /** Every run's folders, being summed up since the process started (`startRunSums`): used when of `runsDir`. */
  startedSums?: StartedSums;
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
  /**
   * Push and pull: selected runs compared file by file through the stat cache. The others were
   * found as they were when last in sync with the remote (no news from it since), from one sum of
   * their folders, or (pull) hold the remote's version by their history.
   */
  scanned?: number;
  /** Push: files read and hashed while comparing (those the stat cache knows unchanged are not read). */
  hashed?: number;
  /**
   * Push, pull and clone: the runs that diverged, left out of `runs` (every other run moves). The
   * caller reports it after executing the rest.
   */
  conflicts?: ConflictError;
  /** Runs the transfer with the remote still open, then closes it. */
  execute(onProgress?: (event: SyncProgressEvent) => void): Promise<R>;
  /** Releases the remote without transferring (dry run, declined confirmation). */
  close(): Promise<void>;
}

/** An open remote with its view and the local stat cache, shared by the steps of one command. */
export interface Session {
  runsDir: string;
  remote: OpenRemote;
  /** What the runs directory remembers of the remote; written once, as the session closes. */
  state: RemoteState;
  view: RemoteView;
  /** The view learned something since it was read from the cache (its dirty state: saved only then). */
  viewChanged: boolean;
  /** The stat cache, loaded at first use (a push that finds every run in sync needs none). */
  readonly cache: StatCache;
  loadedCache: StatCache | undefined;
  /** The stamp of the cached view, while the view in memory is that one (no news read since). */
  viewStamp: string | undefined;
  /** Runs found in sync with the remote (a push keeps them), saved with the view's stamp. */
  inSync?: InSyncState;
  now: () => number;
  only: ReadonlySet<RunPart>;
  closed: boolean;
  /** The runs directory's names, once read (`namesHere`). */
  names?: readonly string[];
  /** The names the command's plan listed: `namesHere`'s while still the directory's. */
  listing?: RunsDirListing;
}

/**
 * The runs directory's names, read once a session: what a push prunes its local state by and what
 * the view keeps, as the directory stood when the first of them asked.
 */
export function namesHere(s: Session): readonly string[] {
  return (s.names ??= namesStill(s.runsDir, s.listing));
}

export function checkOnly(only: readonly string[] | undefined): Set<RunPart> {
  if (only === undefined || only.length === 0) return new Set(RUN_PARTS);
  for (const p of only) {
    if (!RUN_PARTS.includes(p as RunPart)) throw new UsageError(`Unknown part '${p}' in --only`, { hint: "Use --only with meta, user and files, comma separated." });
  }
  return new Set(only as RunPart[]);
}

/**
 * Opens the remote and brings the cached view of its heads up to date (the stat cache loads at
 * first use). `reading`: the command reads the store (pull, status, listing), so a remote whose
 * root does not exist is an error, not an empty store; a push creates it.
 * @throws StoreNotFoundError when `reading` and the remote's folder does not exist.
 */
export async function openSession(opts: SyncOptions, reading = false): Promise<Session> {
  const only = checkOnly(opts.only);
  const remote = await openRemote(await remoteOrDefault(opts.runsDir, opts.remote), opts);
  try {
    const state = new RemoteState(opts.runsDir, remote.url);
    // Only the view's header and the blocks of runs it still needs are read (docs/formats.md, Local state).
    const file = state.openView();
    let cached: ReturnType<typeof decodeView>;
    let view: RemoteView;
    const now = opts.now ?? Date.now;
    let fetched: number;
    try {
      cached = file === undefined ? undefined : decodeView(file, { lazy: true });
      view = cached?.view ?? emptyView();
      ({ fetched } = await refreshView(remote.storage, view, now()));
    } catch (err) {
      // A damaged block of the cached view, found as it was opened: read the remote afresh.
      if (!(err instanceof CachedViewDamaged)) throw err;
      cached = undefined;
      view = emptyView();
      ({ fetched } = await refreshView(remote.storage, view, now()));
    } finally {
      file?.close();
    }
    if (reading && view.newest === undefined && view.catalogKey === undefined) await assertStoreExists(remote);
    const cacheFile = statePaths.statCache(opts.runsDir);
    const session: Session = {
      runsDir: opts.runsDir,
      remote,
      state,
      view,
      viewChanged: fetched > 0,
      viewStamp: fetched > 0 ? undefined : cached?.stamp,
      loadedCache: undefined,
      get cache() {
        return (this.loadedCache ??= StatCache.loadSync(cacheFile, { now }));
      },
      now,
      only,
      closed: false,
    };
    return session;
  } catch (err) {
    await closeRemote(remote);
    throw err;
  }
}

/**
 * Saves what the session learned and closes the remote; again is a no-op. Each cache is written
 * only when dirty: the view when it learned news, the in-sync rows when they changed or the view's
 * stamp did (rows hold for one stamp), kept indexes when new ones were read, the stat cache when
 * rows changed. Without `save` (a failed command) only the kept indexes are written: each is
 * what the remote holds under its key, whatever the command did.
 */
export async function closeSession(s: Session, save: boolean): Promise<void> {
  if (s.closed) return;
  s.closed = true;
  try {
    // A command that found no runs directory (ls --remote elsewhere) does not create one.
    if (existsSync(s.runsDir)) {
      if (save) {
        let stamp = s.viewStamp;
        // Runs read from catalog segments are kept only when this directory holds them (then the
        // view is written even without news: its next command needs not fetch them again).
        const loaded = [...s.view.runs.fromSegmentIds()];
        const here = s.viewChanged || loaded.length > 0 ? new Set(namesHere(s).filter(isRunId)) : new Set<string>();
        if (s.viewChanged || loaded.some((id) => here.has(id))) {
          // The file read, unchanged since (no other command wrote it), is updated in place.
          const file = s.view.file;
          const encoded = encodeViewFile(s.view, file !== undefined && s.state.viewVersion() === file.version ? file : undefined, (id) => here.has(id));
          if ("update" in encoded) {
            s.state.setViewTail(encoded.update.at, encoded.update.tail, encoded.update.stamp);
            stamp = encoded.update.stamp;
          } else {
            s.state.setView(encoded.whole.bytes, encoded.whole.stamp);
            stamp = encoded.whole.stamp;
          }
        }
        if (stamp !== undefined && s.inSync !== undefined && (s.inSync.changed || stamp !== s.viewStamp)) s.state.setInSyncRows(stamp, s.inSync.rows);
        if (s.loadedCache?.dirty) await s.loadedCache.save(statePaths.statCache(s.runsDir));
      }
      s.state.commit();
    }
  } finally {
    await closeRemote(s.remote);
  }
}
