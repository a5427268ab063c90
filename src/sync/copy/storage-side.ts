import type { Readable } from "node:stream";
import pLimit from "p-limit";
import { isGageError } from "../../errors.js";
import type { Storage } from "../../remotes/storage.js";
import { runPaths } from "../../runs/layout.js";
import { RunFileError } from "../../runs/errors.js";
import { runName } from "../../runs/name.js";
import { MAX_RUN_FILE_BYTES } from "../../runs/regular-file.js";
import { decodeOpref, sortRuns, type Run, type RunStatus, type RunTimestamps } from "../../runs/run.js";
import { applyUserLog, parseUserLogEntry } from "../../runs/user-log.js";
import { parseRunKey, partDir } from "./keys.js";
import type { FileData, MetaWriter, RunsSide, SideFile, WriteAttrs } from "./side.js";

/** A run is there once these are: they are written last, so a reader never sees a half run. */
const PUBLISHING_FILES = ["id", "opref"];

const PER_RUN_LISTINGS = 16;

const TIMESTAMPS = ["initialized", "staged", "started", "stopped"] as const;

/**
 * A runs directory in the plain Gage layout on any `Storage` (S3, SSH, ...): keys are the paths
 * relative to the runs directory. Storages keep no modes: files read from one get Gage's
 * read-only mode, and those written to one lose theirs (as with rclone). Every listed key is
 * parsed by `parseRunKey`, so a hostile key stops the copy before anything is written.
 */
export class StorageRunsSide implements RunsSide {
  readonly where: string;
  /** Files by top-level directory, once the whole storage has been listed. */
  private byDir: Map<string, SideFile[]> | undefined;
  private listing: Promise<Map<string, SideFile[]>> | undefined;
  private readonly limit = pLimit(8);
  private listings = 0;

  /** `owned`: the side opened the storage and closes it; a storage handed in stays open. */
  constructor(
    private readonly storage: Storage,
    private readonly owned: boolean,
  ) {
    this.where = storage.url;
  }

  private listAll(): Promise<Map<string, SideFile[]>> {
    this.listing ??= (async () => {
      const byDir = new Map<string, SideFile[]>();
      for await (const entry of this.storage.list("")) {
        if (parseRunKey(entry.key) === undefined) continue;
        const top = entry.key.slice(0, entry.key.indexOf("/"));
        let files = byDir.get(top);
        if (!files) byDir.set(top, (files = []));
        files.push({ key: entry.key, size: entry.size });
      }
      this.byDir = byDir;
      return byDir;
    })();
    return this.listing;
  }

  async listRuns(onWarning?: (msg: string) => void): Promise<Run[]> {
    const byDir = await this.listAll();
    const metas: Array<{ id: string; deleted: boolean }> = [];
    for (const top of byDir.keys()) {
      const m = /^(.+)\.meta(\.deleted)?$/.exec(top);
      if (m && byDir.get(top)!.some((f) => f.key === `${top}/opref`)) metas.push({ id: m[1]!, deleted: m[2] !== undefined });
    }
    const runs = await Promise.all(
      metas.map(({ id, deleted }) =>
        this.limit(async () => {
          try {
            return await this.readRun(id, deleted, byDir);
          } catch (err) {
            onWarning?.(`Skipping run ${id} in ${this.where}: ${(err as Error).message}`);
            return undefined;
          }
        }),
      ),
    );
    return sortRuns(runs.filter((r): r is Run => r !== undefined));
  }

  private async readRun(id: string, deleted: boolean, byDir: Map<string, SideFile[]>): Promise<Run> {
    const metaDir = partDir(id, "meta", deleted);
    const metaKeys = new Set((byDir.get(metaDir) ?? []).map((f) => f.key));
    const text = async (rel: string) =>
      metaKeys.has(`${metaDir}/${rel}`) ? (await this.smallFile(`${metaDir}/${rel}`)).toString("utf8").trim() : undefined;
    const opref = decodeOpref((await text("opref")) ?? "");
    const timestamps: RunTimestamps = {};
    for (const name of TIMESTAMPS) {
      const t = await text(name);
      if (t !== undefined && /^\d+$/.test(t)) timestamps[name] = Number(t);
    }
    const exit = await text("proc/exit");
    const code = exit !== undefined && /^-?\d+$/.test(exit) ? Number(exit) : undefined;
    const status: RunStatus =
      code !== undefined
        ? code === 0
          ? "completed"
          : code < 0
            ? "terminated"
            : "error"
        : metaKeys.has(`${metaDir}/proc/lock`)
          ? "running"
          : timestamps.staged !== undefined
            ? "staged"
            : timestamps.initialized !== undefined
              ? "pending"
              : "unknown";
    const userFiles = byDir.get(partDir(id, "user")) ?? [];
    const entries = [];
    for (const f of userFiles) entries.push(parseUserLogEntry((await this.smallFile(f.key)).toString("utf8"), f.key));
    const attrs = applyUserLog(entries);
    const run: Run = {
      id,
      name: runName(id),
      paths: runPaths(this.where, id),
      opref,
      operation: `${opref.ns}:${opref.name}`,
      status,
      timestamps,
      attrs,
      deleted,
    };
    if (typeof attrs.label === "string") run.label = attrs.label;
    return run;
  }

  /** A meta or user log file, read only up to the bound on such files (a sparse GB is refused). */
  private async smallFile(key: string): Promise<Buffer> {
    const bytes = await this.storage.getBytes(key, { start: 0, end: MAX_RUN_FILE_BYTES + 1 });
    if (bytes.length > MAX_RUN_FILE_BYTES) throw new RunFileError(`${this.where}/${key}`, `is larger than ${MAX_RUN_FILE_BYTES} bytes`);
    return bytes;
  }

  async listFiles(dirs: readonly string[]): Promise<SideFile[]> {
    const out: SideFile[] = [];
    // A listing per run is cheapest for a few runs; past that, one listing of everything is.
    if (++this.listings > PER_RUN_LISTINGS) await this.listAll();
    if (this.byDir) {
      for (const dir of dirs) out.push(...(this.byDir.get(dir) ?? []));
    } else {
      for (const dir of dirs) {
        for await (const entry of this.storage.list(`${dir}/`)) {
          if (parseRunKey(entry.key) !== undefined) out.push({ key: entry.key, size: entry.size });
        }
      }
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  read(key: string): Promise<Readable> {
    return this.storage.get(key);
  }

  load(key: string): Promise<Buffer> {
    return this.storage.getBytes(key);
  }

  readRange(key: string, start: number, end: number): Promise<Buffer> {
    return this.storage.getBytes(key, { start, end });
  }

  async readBytes(key: string): Promise<Buffer | undefined> {
    try {
      return await this.storage.getBytes(key);
    } catch (err) {
      if (isGageError(err) && err.code === "NOT_FOUND") return undefined;
      throw err;
    }
  }

  async write(key: string, data: FileData, _attrs: WriteAttrs): Promise<void> {
    await this.storage.put(key, data);
  }

  async beginMeta(dir: string): Promise<MetaWriter> {
    const held: Array<{ rel: string; bytes: Buffer }> = [];
    return {
      write: async (rel, data, attrs) => {
        if (!PUBLISHING_FILES.includes(rel)) return this.write(`${dir}/${rel}`, data, attrs);
        if (Buffer.isBuffer(data)) held.push({ rel, bytes: data });
        else {
          const chunks: Buffer[] = [];
          for await (const chunk of data) chunks.push(chunk as Buffer);
          held.push({ rel, bytes: Buffer.concat(chunks) });
        }
      },
      commit: async () => {
        held.sort((a, b) => PUBLISHING_FILES.indexOf(a.rel) - PUBLISHING_FILES.indexOf(b.rel));
        for (const { rel, bytes } of held) await this.storage.put(`${dir}/${rel}`, bytes);
      },
    };
  }

  async close(): Promise<void> {
    if (this.owned) await this.storage.close();
  }
}
