import { decodeTree, ObjectNotFoundError, ObjectReader, loadPackIndex, type Tree, type TreeEntry } from "../objects/index.js";
import type { Storage } from "../remotes/storage.js";
import type { Run } from "../runs/run.js";
import { parseUserLogEntry, type UserLogEntry } from "../runs/user-log.js";
import { emptyView, encodeHead, keyTime, loadAllRuns, noteHead, refreshView, type HeadEntry, type RemoteView } from "../sync/heads.js";
import { remoteVersion } from "../sync/plan.js";
import { remoteRunsOf, type RemoteRun } from "../sync/remote-runs.js";
import { newUserLogFile, type ChangeContext, type UserChange, type FileRead, type RunPart, type RunSource, type SourceFile, type StorageSourceOptions } from "./source.js";

/** A remote's heads are listed again at most this often: new pushes show up, a page of the table costs no listing. */
const REFRESH_MS = 2000;
/** Verified objects kept in memory (trees, small files, chunks a viewer pages through). */
const CACHE_BYTES = 32 * 1024 * 1024;
/** Where remote runs would live: no runs directory is read or written. */
const NO_RUNS_DIR = "/nonexistent-gage-serve";

/** Verified objects by id, least recently used dropped first, bounded in bytes. */
class ObjectCache {
  readonly #items = new Map<string, Buffer>();
  #bytes = 0;
  constructor(readonly maxBytes: number) {}
  get(id: string): Buffer | undefined {
    const b = this.#items.get(id);
    if (b !== undefined) {
      this.#items.delete(id);
      this.#items.set(id, b);
    }
    return b;
  }
  set(id: string, b: Buffer): void {
    if (b.length > this.maxBytes / 8 || this.#items.has(id)) return;
    this.#items.set(id, b);
    this.#bytes += b.length;
    for (const [k, v] of this.#items) {
      if (this.#bytes <= this.maxBytes) break;
      this.#items.delete(k);
      this.#bytes -= v.length;
    }
  }
}

/**
 * A store remote (folder, S3, SSH), read lazily: the run list from its heads and catalog (as
 * `gage ls --remote`), a file's bytes only when opened, by ranged reads of the objects that hold
 * them, each verified. Comments and labels are written as a head holding the run's versions as
 * they are plus the new user log entry: readers merge it by union, as they merge a push.
 */
export class StoreSource implements RunSource {
  readonly kind = "store";
  readonly location: string;
  readonly #storage: Storage;
  readonly #ownsStorage: boolean;
  readonly #view: RemoteView = emptyView();
  readonly #cache = new ObjectCache(CACHE_BYTES);
  readonly #onWarning: ((msg: string) => void) | undefined;
  readonly #now: () => number;
  #refreshed: { at: number; done: Promise<void> } | undefined;
  #runs: RemoteRun[] = [];
  #byId = new Map<string, RemoteRun>();
  #reader: Promise<ObjectReader> | undefined;

  constructor(storage: Storage, opts: StorageSourceOptions = {}) {
    this.#storage = storage;
    this.location = storage.url;
    this.#ownsStorage = opts.ownsStorage ?? false;
    this.#onWarning = opts.onWarning;
    this.#now = opts.now ?? Date.now;
  }

  #refresh(): Promise<void> {
    const now = this.#now();
    if (this.#refreshed === undefined || now - this.#refreshed.at > REFRESH_MS) {
      const done = refreshView(this.#storage, this.#view, now).then(async ({ fetched }) => {
        // The web view lists and compares every run: all of the catalog's segments.
        fetched += await loadAllRuns(this.#view, this.#storage);
        if (fetched > 0 || this.#runs.length !== this.#view.runs.size) this.#readRuns();
      });
      this.#refreshed = { at: now, done };
      done.catch(() => (this.#refreshed = undefined));
    }
    return this.#refreshed.done;
  }

  #readRuns(): void {
    this.#runs = remoteRunsOf(this.#view, NO_RUNS_DIR, this.#onWarning);
    this.#byId = new Map(this.#runs.map((r) => [r.id, r]));
  }

  async listRuns(): Promise<readonly Run[]> {
    await this.#refresh();
    return this.#runs;
  }

  async getRun(id: string): Promise<Run | undefined> {
    await this.#refresh();
    return this.#byId.get(id);
  }

  async userLog(run: Run): Promise<Array<{ name: string; entry: UserLogEntry }>> {
    const user = new Map<string, Uint8Array>();
    for (const e of (run as RemoteRun).entries) for (const [name, bytes] of Object.entries(e.user)) if (!user.has(name)) user.set(name, bytes);
    const out: Array<{ name: string; entry: UserLogEntry }> = [];
    for (const name of [...user.keys()].sort()) {
      try {
        out.push({ name, entry: parseUserLogEntry(Buffer.from(user.get(name)!).toString("utf8"), `${run.id}.user/${name}`) });
      } catch (err) {
        this.#onWarning?.(`${(err as Error).message} (skipped)`);
      }
    }
    return out;
  }

  async listFiles(run: Run, part: RunPart, limit: number): Promise<{ files: SourceFile[]; truncated: boolean }> {
    const files: SourceFile[] = [];
    let truncated = false;
    const walk = async (treeId: string, prefix: string): Promise<void> => {
      for (const e of (await this.#tree(treeId)).entries) {
        if (files.length >= limit) {
          truncated = true;
          return;
        }
        if (e.kind === "dir") await walk(e.id, `${prefix}${e.name}/`);
        else if (e.kind === "file") files.push({ path: prefix + e.name, size: e.size });
      }
    };
    const root = this.#rootTree(run, part);
    if (root !== undefined) await walk(root, "");
    return { files, truncated };
  }

  async readFile(run: Run, part: RunPart, path: readonly string[], range?: { start: number; end?: number }): Promise<FileRead | undefined> {
    let treeId = this.#rootTree(run, part);
    let entry: TreeEntry | undefined;
    for (let i = 0; i < path.length && treeId !== undefined; i++) {
      entry = (await this.#tree(treeId)).entries.find((e) => e.name === path[i]);
      const last = i === path.length - 1;
      if (entry === undefined || entry.kind !== (last ? "file" : "dir")) return undefined;
      treeId = last ? undefined : entry.id;
    }
    if (entry === undefined || entry.kind !== "file") return undefined;
    const size = entry.size;
    const start = Math.min(range?.start ?? 0, size);
    const end = Math.max(start, Math.min(range?.end ?? size, size));
    return { size, start, end, body: this.#bytes(entry, start, end) };
  }

  /** The bytes of a file from `start` to `end`: only the chunks that hold them are read, each verified. */
  async *#bytes(entry: TreeEntry, start: number, end: number): AsyncGenerator<Buffer> {
    if (end <= start) return;
    if (entry.chunks === undefined) {
      const data = await this.#object(entry.id);
      yield data.subarray(start, end);
      return;
    }
    const reader = await this.#objects();
    const list = await reader.readChunkList(entry.chunks);
    let offset = 0;
    for (const chunk of list.chunks) {
      const from = offset;
      offset += chunk.size;
      if (offset <= start) continue;
      if (from >= end) break;
      const data = await this.#object(chunk.id);
      yield data.subarray(Math.max(0, start - from), Math.min(chunk.size, end - from));
    }
  }

  #rootTree(run: Run, part: RunPart): string | undefined {
    const version = remoteVersion((run as RemoteRun).entries ?? []);
    return version === undefined ? undefined : part === "files" ? version.run.tree : version.meta.tree;
  }

  async #tree(id: string): Promise<Tree> {
    return decodeTree(await this.#object(id));
  }

  /** One verified object, from the cache or the remote (its pack index read again once when a newer push added it). */
  async #object(id: string): Promise<Buffer> {
    const known = this.#cache.get(id);
    if (known !== undefined) return known;
    const reader = await this.#objects();
    if (!reader.has(id)) {
      await loadPackIndex(this.#storage, reader.index);
      if (!reader.has(id)) throw new ObjectNotFoundError(id);
    }
    const data = await reader.read(id);
    this.#cache.set(id, data);
    return data;
  }

  #objects(): Promise<ObjectReader> {
    this.#reader ??= ObjectReader.open(this.#storage);
    this.#reader.catch(() => (this.#reader = undefined));
    return this.#reader;
  }

  /**
   * Writes one new user log entry into the remote as `gage push --only user` would: a head whose
   * entry keeps the run's trees as the remote holds them and carries its whole log plus the new file.
   */
  async appendUser(run: Run, change: UserChange, ctx: ChangeContext): Promise<void> {
    await this.#refresh();
    const entries = this.#view.runs.get(run.id);
    const version = entries === undefined ? undefined : remoteVersion(entries);
    if (entries === undefined || version === undefined) throw new ObjectNotFoundError(run.id);
    const user: Record<string, Uint8Array> = {};
    for (const e of entries) for (const [name, bytes] of Object.entries(e.user)) user[name] ??= bytes;
    const file = newUserLogFile(Object.keys(user).sort().at(-1), change, ctx);
    user[file.name] = file.bytes;
    const summary = entries.find((e) => e.meta.tree === version.meta.tree)?.summary ?? entries.at(-1)!.summary;
    const entry: HeadEntry = { runId: run.id, run: version.run, meta: version.meta, user, summary };
    const after = this.#view.newest === undefined ? 0 : (keyTime(this.#view.newest) ?? 0) + 1;
    const { key, bytes } = encodeHead([entry], Math.max(this.#now(), after));
    await this.#storage.put(key, bytes);
    noteHead(this.#view, key, [entry]);
    this.#readRuns();
  }

  async close(): Promise<void> {
    if (this.#ownsStorage) await this.#storage.close();
  }
}
