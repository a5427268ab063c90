import { createReadStream } from "node:fs";
import { createHash } from "node:crypto";
import { isObjectId, type ObjectId } from "../../objects/index.js";
import { CorruptObjectError } from "../../objects/errors.js";
import { resolveRemote } from "../../remotes/config.js";
import type { Storage } from "../../remotes/storage.js";
import type { SyncOptions } from "../session.js";

/**
 * Large files on a Git remote: the branch holds a Git LFS pointer file (the spec's three lines; the
 * oid is the file's SHA-256, our file id already) and the contents live in the companion store
 * that `lfs` names (any of our remotes), under `lfs/objects/AB/CD/OID` as git-lfs lays them out.
 */
export const LFS_VERSION = "version https://git-lfs.github.com/spec/v1";

/** Pointer files are this small; a blob larger is never read as one. */
export const MAX_POINTER = 200;
/** The shortest pointer: the version line, a SHA-256 and a one-digit size. */
export const MIN_POINTER = `${LFS_VERSION}\noid sha256:${"0".repeat(64)}\nsize 0\n`.length;

export function lfsPointer(oid: ObjectId, size: number): Buffer {
  return Buffer.from(`${LFS_VERSION}\noid sha256:${oid}\nsize ${size}\n`);
}

/** The file a pointer stands for, or undefined when `data` is no LFS pointer. */
export function parseLfsPointer(data: Buffer): { oid: ObjectId; size: number } | undefined {
  if (data.length > MAX_POINTER || !data.subarray(0, LFS_VERSION.length).equals(Buffer.from(LFS_VERSION))) return undefined;
  const m = /^version [^\n]+\noid sha256:([0-9a-f]{64})\nsize (\d{1,15})\n$/.exec(data.toString("latin1"));
  if (!m || !isObjectId(m[1])) return undefined;
  return { oid: m[1]!, size: Number(m[2]) };
}

export function lfsKey(oid: ObjectId): string {
  return `lfs/objects/${oid.slice(0, 2)}/${oid.slice(2, 4)}/${oid}`;
}

/** The companion store of a Git session, opened at first use; undefined when `lfs` is not set. */
export class LfsStore {
  #storage: Promise<Storage> | undefined;
  constructor(
    readonly spec: string | undefined,
    readonly opts: Pick<SyncOptions, "cwd" | "env" | "home">,
  ) {}

  get configured(): boolean {
    return this.spec !== undefined;
  }

  #open(): Promise<Storage> {
    const ctx = { ...(this.opts.cwd !== undefined ? { cwd: this.opts.cwd } : {}), env: this.opts.env ?? {}, ...(this.opts.home !== undefined ? { home: this.opts.home } : {}) };
    return (this.#storage ??= resolveRemote(this.spec!, ctx));
  }

  /** Sends a file's contents unless the store has them already (content-addressed: never replaced). */
  async upload(path: string, oid: ObjectId, size: number): Promise<void> {
    const storage = await this.#open();
    const key = lfsKey(oid);
    if ((await storage.stat(key))?.size === size) return;
    await storage.put(key, createReadStream(path));
  }

  /** A file's contents, streamed, checked against its id and size as they pass. */
  async *read(oid: ObjectId, size: number): AsyncGenerator<Buffer> {
    const storage = await this.#open();
    const hash = createHash("sha256");
    let bytes = 0;
    for await (const chunk of await storage.get(lfsKey(oid))) {
      const piece = chunk as Buffer;
      bytes += piece.length;
      if (bytes > size) break;
      hash.update(piece);
      yield piece;
    }
    const actual = hash.digest("hex");
    if (bytes !== size) throw new CorruptObjectError(oid, { where: `${this.spec} (lfs)`, reason: `more or fewer bytes than the pointer's ${size}` });
    if (actual !== oid) throw new CorruptObjectError(oid, { where: `${this.spec} (lfs)`, actual });
  }

  async close(): Promise<void> {
    if (this.#storage !== undefined) await (await this.#storage).close();
  }
}
