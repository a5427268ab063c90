import { availableParallelism } from "node:os";
import { restoreChunkedAsync, restoreFilesAsync } from "./dir-listing.js";
import { CorruptObjectError } from "./errors.js";
import type { FileStamp } from "./file-id-cache.js";
import type { ObjectId } from "./ids.js";
import { osPath } from "./names.js";
import { CODEC_RAW, type PackLocation } from "./pack.js";
import type { ObjectReader } from "./reader.js";
import { packKey } from "./storage.js";

// A job's fixed part (native/restore.c): pack index, length, offset, SHA-256, mode, mtime, folder index, name length.
const JOB_HEADER = 66;
// Larger objects go through the reader (the addon's per-thread buffer is bounded).
const MAX_OBJECT = 16 * 1024 * 1024;
// A batch is handed to the addon's threads at this many bytes or files; two are in flight.
const BATCH_BYTES = 16 * 1024 * 1024;
const BATCH_FILES = 2048;
const BATCHES_IN_FLIGHT = 2;
// A batch holds its packs and folders open while it runs: a tree of many small folders must not run out of descriptors.
const BATCH_OPEN = 256;

/**
 * Told of a batch of files once all are written: `stamps` holds 4 numbers per file, in order
 * (size, mtimeMs, ctimeMs, ino), so a batch costs one call and no object per file.
 */
export type RestoredFiles<T> = (files: readonly T[], stamps: Float64Array) => void;

/** The stamp of file `i` of a batch reported to `RestoredFiles`. */
export function stampAt(stamps: Float64Array, i: number): FileStamp {
  const s = i * 4;
  return { size: stamps[s]!, mtimeMs: stamps[s + 1]!, ctimeMs: stamps[s + 2]!, ino: stamps[s + 3]! };
}

/**
 * New files written on native threads from where their objects lie (`ObjectReader.fileRestorer`),
 * reported a batch at a time to the `RestoredFiles` given when it was made.
 */
export interface FileRestorer<T, L = unknown> {
  /** Where the object lies, when this writes its files; undefined leaves them to the reader. */
  locate(id: ObjectId): L | undefined;
  /**
   * Queues a new file `name` (one path segment) in folder `dir` from object `id` at `loc` (`of`:
   * the caller's record of it). Returns a promise only when the caller must wait (batches in
   * flight): queueing costs no promise.
   * @throws CorruptObjectError when where the object lies gives another size than `size`.
   */
  add(of: T, dir: string, name: string, mode: number, id: ObjectId, mtimeUs: number | undefined, loc: L, size: number): Promise<void> | undefined;
  /** Waits for every file added; returns those left to the reader (nothing of theirs written). */
  finish(): Promise<T[]>;
  /** After a failure: waits for what is under way, throws the first failure. */
  settle(): Promise<void>;
}

/**
 * Writes a job's path after its fixed part (`header` bytes from `used`), as its bytes when it is
 * not UTF-8, growing the jobs buffer when it lacks room; the caller writes the fixed part.
 */
export function appendJobPath(jobs: Buffer, used: number, header: number, path: string): { jobs: Buffer; nameBytes: number } {
  const os = osPath(path);
  const nameBytes = typeof os === "string" ? Buffer.byteLength(os) : os.length;
  if (used + header + nameBytes > jobs.length) {
    const grown = Buffer.allocUnsafe(Math.max(jobs.length * 2, used + header + nameBytes));
    jobs.copy(grown, 0, 0, used);
    jobs = grown;
  }
  if (typeof os === "string") jobs.write(os, used + header, "utf8");
  else os.copy(jobs, used + header);
  return { jobs, nameBytes };
}

interface Batch<T> {
  packs: string[];
  /** Pack id → its place in `packs`. */
  packIndex: Map<ObjectId, number>;
  /** The folders files are created in (a folder's files share its string, whose hash is kept). */
  dirs: string[];
  dirIndex: Map<string, number>;
  /** The jobs, written one after another from the start. */
  jobs: Buffer;
  used: number;
  files: T[];
  /** Each file's object and where it lies, for an error. */
  ids: ObjectId[];
  locs: PackLocation[];
  bytes: number;
}

const newBatch = <T>(): Batch<T> => ({ packs: [], packIndex: new Map(), dirs: [], dirIndex: new Map(), jobs: Buffer.allocUnsafe(256 * 1024), used: 0, files: [], ids: [], locs: [], bytes: 0 });

/**
 * Writes new files straight from a local folder's pack files on the addon's threads: each object
 * read with one pread and its SHA-256 checked before its file is created (native/restore.c), so
 * no buffer, hash, promise or callback per file on this thread. Only raw objects of packs the storage keeps
 * as files here (`ObjectStorage.filePath`); `accepts` says which.
 */
export class NativeRestorer<T> implements FileRestorer<T, PackLocation> {
  readonly #reader: ObjectReader;
  readonly #fsync: boolean;
  readonly #threads = availableParallelism();
  readonly #done: RestoredFiles<T>;
  #batch = newBatch<T>();
  #inFlight: Promise<void>[] = [];
  /** Files of batches whose packs could not be opened here (nothing of theirs was written). */
  readonly #fallback: T[] = [];

  private constructor(reader: ObjectReader, fsync: boolean, done: RestoredFiles<T>) {
    this.#reader = reader;
    this.#fsync = fsync;
    this.#done = done;
  }

  /**
   * A restorer when the addon is built and the reader's storage keeps its packs as files here;
   * `done` is told of each batch written.
   */
  static for<T>(reader: ObjectReader, fsync: boolean, done: RestoredFiles<T>): NativeRestorer<T> | undefined {
    if (restoreFilesAsync === undefined || reader.storage.filePath === undefined) return undefined;
    return new NativeRestorer<T>(reader, fsync, done);
  }

  locate(id: ObjectId): PackLocation | undefined {
    const loc = this.#reader.locate(id);
    return this.accepts(loc) ? loc : undefined;
  }

  /** Whether an object stored so is restored here. */
  accepts(loc: PackLocation): boolean {
    return loc.codec === CODEC_RAW && loc.storedLength <= MAX_OBJECT;
  }

  /**
   * Queues a file; its object must be `accepts`ed and of the size its tree says.
   * @throws CorruptObjectError when the object's index entry gives another size than `size`.
   */
  add(of: T, dir: string, name: string, mode: number, id: ObjectId, mtimeUs: number | undefined, loc: PackLocation, size: number): Promise<void> | undefined {
    if (loc.rawLength !== size) throw new CorruptObjectError(id, { reason: `${loc.rawLength} bytes where tree entry ${dir}/${name} says ${size}` });
    const b = this.#batch;
    // By the index's own id string (its hash kept), not a key built per file.
    let pack = b.packIndex.get(loc.packId);
    if (pack === undefined) {
      pack = b.packs.push(this.#reader.storage.filePath!(packKey(loc.packId))) - 1;
      b.packIndex.set(loc.packId, pack);
    }
    let folder = b.dirIndex.get(dir);
    if (folder === undefined) {
      folder = b.dirs.push(dir) - 1;
      b.dirIndex.set(dir, folder);
    }
    const { jobs: job, nameBytes } = appendJobPath(b.jobs, b.used, JOB_HEADER, name);
    b.jobs = job;
    const at = b.used;
    job.writeUInt32LE(pack, at);
    job.writeUInt32LE(loc.storedLength, at + 4);
    job.writeDoubleLE(loc.offset, at + 8);
    job.write(id, at + 16, 32, "hex");
    job.writeUInt32LE(mode, at + 48);
    job.writeDoubleLE(mtimeUs ?? -1, at + 52);
    job.writeUInt32LE(folder, at + 60);
    job.writeUInt16LE(nameBytes, at + 64);
    b.used += JOB_HEADER + nameBytes;
    b.files.push(of);
    b.ids.push(id);
    b.locs.push(loc);
    b.bytes += loc.storedLength;
    return b.files.length >= BATCH_FILES || b.bytes >= BATCH_BYTES || b.packs.length + b.dirs.length >= BATCH_OPEN ? this.#flush() : undefined;
  }

  async #flush(): Promise<void> {
    const b = this.#batch;
    if (b.files.length === 0) return;
    this.#batch = newBatch<T>();
    const stamps = new Float64Array(b.files.length * 4);
    const job = restoreFilesAsync!(b.packs, b.dirs, b.jobs.subarray(0, b.used), b.files.length, this.#threads, this.#fsync, stamps).then(
      () => this.#done(b.files, stamps),
      (err: NodeJS.ErrnoException & { index?: number }) => {
        const i = err.index ?? -1;
        // A pack that is gone or not a file: the reader reads these and says what is wrong.
        if (i < 0 && err.syscall === "open") {
          this.#fallback.push(...b.files);
          return;
        }
        if (err.code !== "EBADMSG" || i < 0) throw err;
        const [id, loc] = [b.ids[i]!, b.locs[i]!];
        throw new CorruptObjectError(id, { where: packKey(loc.packId), reason: err.syscall === "read" ? "truncated" : "its bytes hash to another id" }, { cause: err });
      },
    );
    job.catch(() => undefined);
    this.#inFlight.push(job);
    if (this.#inFlight.length >= BATCHES_IN_FLIGHT) await this.#inFlight.shift();
  }

  /**
   * Waits for every file added, and returns those left to the reader (packs this side could not
   * open); the first failure is thrown once all have settled.
   */
  async finish(): Promise<T[]> {
    try {
      await this.#flush();
    } finally {
      await this.settle();
    }
    return this.#fallback.splice(0);
  }

  /** After a failure: drops what was not yet handed over, waits for the rest, throws the first failure. */
  async settle(): Promise<void> {
    this.#batch = newBatch<T>();
    const settled = await Promise.allSettled(this.#inFlight.splice(0));
    const failed = settled.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }
}

// A chunked file's fixed part (native/restore.c): folder index, name length, chunk count, mode, mtime, size, SHA-256; then a record per chunk.
const CHUNKED_HEADER = 62;
const CHUNK_RECORD = 48;

/** A new file stored in chunks (its tree entry's id, size and chunk list), to write as `name` in folder `dir`. */
export interface ChunkedFile {
  dir: string;
  /** One path segment. */
  name: string;
  mode: number;
  mtimeUs: number | undefined;
  id: ObjectId;
  size: number;
  chunks: ObjectId;
}

/**
 * Writes a new file from its chunks in a local folder's pack files on an addon thread: each chunk
 * read and checked against its id before it is written, the whole against the file's id and size
 * at the end, and a file that fails removed (native/restore.c): no chunk's bytes pass through this
 * thread. Resolves to the file's stamp, or `undefined` when it cannot be written so (no addon, a
 * storage without files here, a chunk stored deflated, a pack that cannot be opened here): the
 * caller then reads it through the reader.
 * @throws CorruptObjectError for a chunk, or a whole file, whose bytes are not what its id says.
 */
export async function restoreChunked(reader: ObjectReader, fsync: boolean, file: ChunkedFile): Promise<FileStamp | undefined> {
  if (restoreChunkedAsync === undefined || reader.storage.filePath === undefined) return undefined;
  const list = await reader.chunkListOf(file);
  // A chunk may be in a pack whose index a pull has not read yet (docs/formats.md, pack hints).
  await reader.ensure(list.chunks.map((c) => c.id));
  const packs: string[] = [];
  const packIds: ObjectId[] = [];
  const packIndex = new Map<ObjectId, number>();
  const os = osPath(file.name);
  const name = typeof os === "string" ? Buffer.from(os, "utf8") : os;
  const job = Buffer.allocUnsafe(CHUNKED_HEADER + name.length + list.chunks.length * CHUNK_RECORD);
  job.writeUInt32LE(0, 0);
  job.writeUInt16LE(name.length, 4);
  job.writeUInt32LE(list.chunks.length, 6);
  job.writeUInt32LE(file.mode, 10);
  job.writeDoubleLE(file.mtimeUs ?? -1, 14);
  job.writeDoubleLE(file.size, 22);
  job.write(file.id, 30, 32, "hex");
  name.copy(job, CHUNKED_HEADER);
  let at = CHUNKED_HEADER + name.length;
  for (const chunk of list.chunks) {
    const loc = reader.locate(chunk.id);
    if (loc.rawLength !== chunk.size) throw new CorruptObjectError(chunk.id, { reason: `${loc.rawLength} bytes where its chunk list says ${chunk.size}` });
    if (loc.codec !== CODEC_RAW || loc.storedLength > MAX_OBJECT) return undefined;
    let pack = packIndex.get(loc.packId);
    if (pack === undefined) {
      pack = packs.push(reader.storage.filePath(packKey(loc.packId))) - 1;
      packIds.push(loc.packId);
      packIndex.set(loc.packId, pack);
    }
    job.writeUInt32LE(pack, at);
    job.writeUInt32LE(loc.storedLength, at + 4);
    job.writeDoubleLE(loc.offset, at + 8);
    job.write(chunk.id, at + 16, 32, "hex");
    at += CHUNK_RECORD;
  }
  const stamps = new Float64Array(4);
  try {
    await restoreChunkedAsync(packs, [file.dir], job, 1, 1, fsync, stamps);
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { index?: number; chunk?: number };
    // A pack that is gone or not a file: the reader reads the file and says what is wrong.
    if ((err.index ?? -1) < 0 && err.syscall === "open") return undefined;
    if (err.code !== "EBADMSG") throw err;
    const k = err.chunk ?? -1;
    if (k < 0) throw new CorruptObjectError(file.id, { reason: "its chunks do not add up to it" }, { cause: err });
    const where = packKey(packIds[job.readUInt32LE(CHUNKED_HEADER + name.length + k * CHUNK_RECORD)]!);
    throw new CorruptObjectError(list.chunks[k]!.id, { where, reason: err.syscall === "read" ? "truncated" : "its bytes hash to another id" }, { cause: err });
  }
  return stampAt(stamps, 0);
}
