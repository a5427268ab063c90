import type { Storage } from "../remotes/storage.js";
import type { Run } from "../runs/run.js";
import { parseUserLogEntry, type UserLogEntry } from "../runs/user-log.js";
import { partDir } from "../sync/copy/keys.js";
import type { SideFile } from "../sync/copy/side.js";
import { StorageRunsSide } from "../sync/copy/storage-side.js";
import { newUserLogFile, type ChangeContext, type UserChange, type FileRead, type RunPart, type RunSource, type SourceFile, type StorageSourceOptions } from "./source.js";

/** The layout has no index: seeing new runs costs a listing of every key, so it is done at most this often. */
const RELIST_MS = 10_000;

/**
 * A runs directory in the plain Gage layout on a storage (what `gage copy` writes to S3 or SSH),
 * read through copy's own reader. A comment or label is one new `ID.user/NAME.json` key, as
 * `gage copy` would carry it.
 */
export class PlainStorageSource implements RunSource {
  readonly kind = "runs-dir";
  readonly location: string;
  readonly #storage: Storage;
  readonly #ownsStorage: boolean;
  readonly #onWarning: ((msg: string) => void) | undefined;
  readonly #now: () => number;
  #listed: { at: number; side: StorageRunsSide; runs: Promise<Run[]> } | undefined;

  constructor(storage: Storage, opts: StorageSourceOptions = {}) {
    this.#storage = storage;
    this.location = storage.url;
    this.#ownsStorage = opts.ownsStorage ?? false;
    this.#onWarning = opts.onWarning;
    this.#now = opts.now ?? Date.now;
  }

  #current(): { side: StorageRunsSide; runs: Promise<Run[]> } {
    const now = this.#now();
    if (this.#listed === undefined || now - this.#listed.at > RELIST_MS) {
      const side = new StorageRunsSide(this.#storage, false);
      const runs = side.listRuns(this.#onWarning).then((all) => all.filter((r) => !r.deleted));
      this.#listed = { at: now, side, runs };
      runs.catch(() => (this.#listed = undefined));
    }
    return this.#listed;
  }

  listRuns(): Promise<readonly Run[]> {
    return this.#current().runs;
  }

  async getRun(id: string): Promise<Run | undefined> {
    return (await this.#current().runs).find((r) => r.id === id);
  }

  async #files(dir: string): Promise<SideFile[]> {
    const { side, runs } = this.#current();
    await runs;
    return side.listFiles([dir]);
  }

  async userLog(run: Run): Promise<Array<{ name: string; entry: UserLogEntry }>> {
    const out: Array<{ name: string; entry: UserLogEntry }> = [];
    for (const f of await this.#files(partDir(run.id, "user"))) {
      try {
        out.push({ name: f.key.slice(f.key.lastIndexOf("/") + 1), entry: parseUserLogEntry((await this.#storage.getBytes(f.key)).toString("utf8"), f.key) });
      } catch (err) {
        this.#onWarning?.(`${(err as Error).message} (skipped)`);
      }
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async listFiles(run: Run, part: RunPart, limit: number): Promise<{ files: SourceFile[]; truncated: boolean }> {
    const dir = partDir(run.id, part);
    const all = (await this.#files(dir)).map((f) => ({ path: f.key.slice(dir.length + 1), size: f.size }));
    return { files: all.slice(0, limit), truncated: all.length > limit };
  }

  async readFile(run: Run, part: RunPart, path: readonly string[], range?: { start: number; end?: number }): Promise<FileRead | undefined> {
    const key = `${partDir(run.id, part)}/${path.join("/")}`;
    const file = (await this.#files(partDir(run.id, part))).find((f) => f.key === key);
    if (file === undefined) return undefined;
    const size = file.size;
    const start = Math.min(range?.start ?? 0, size);
    const end = Math.max(start, Math.min(range?.end ?? size, size));
    const storage = this.#storage;
    async function* body(): AsyncGenerator<Buffer> {
      if (end > start) yield await storage.getBytes(key, { start, end });
    }
    return { size, start, end, body: body() };
  }

  async appendUser(run: Run, change: UserChange, ctx: ChangeContext): Promise<void> {
    const file = newUserLogFile((await this.userLog(run)).at(-1)?.name, change, ctx);
    await this.#storage.put(`${partDir(run.id, "user")}/${file.name}`, file.bytes);
    // Listed again at once: the writer sees its own change.
    this.#listed = undefined;
  }

  async close(): Promise<void> {
    if (this.#ownsStorage) await this.#storage.close();
  }
}
