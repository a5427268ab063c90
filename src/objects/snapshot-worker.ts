// Runs in a worker thread: snapshots whole directories (walk, read, hash, encode trees) and hands
// the objects to the calling thread in batches, which it packs and stores; or scans runs through
// a stat cache (ids only, nothing stored), which spreads a no-change push's walk over every core. Reading and hashing is
// most of a first push; spread over threads it uses every core. Batches are transferred, not
// copied, and handed back once packed: a few buffers go round (fresh 4 MiB buffers for every
// batch kept the caller's garbage collector busy), and their number bounds memory.
import { parentPort } from "node:worker_threads";
import type { ChunkingParams } from "./chunker.js";
import { UnsafePathError } from "./errors.js";
import type { ObjectId } from "./ids.js";
import { PackIndex, type ObjectSink } from "./pack.js";
import { idOnlySink, snapshotDir, snapshotRun, type SnapshotStats } from "./snapshot.js";
import type { SnapshotUserEntry } from "./codec.js";
import { encodeFileRow, StatCache, type CachedIds, type FileIdCache, type FileStamp } from "./stat-cache.js";

/** Store a directory's objects; or scan a run (`snapshotRun` without storing: its ids only). */
export type WorkerJob = { dir: string } | { run: { runsDir: string; runId: string; metaDir: string } };

export interface DirSnapshot {
  treeId: ObjectId;
  stats: SnapshotStats;
}

export interface RunScan {
  files: ObjectId;
  meta: ObjectId;
  user: SnapshotUserEntry[];
  stats: SnapshotStats;
}

/** Sent once: the whole list of jobs, taken one at a time by whichever worker is free. */
export interface SnapshotWork {
  jobs: WorkerJob[];
  /** [0]: the index of the next job to take (shared by every worker). */
  next: Int32Array;
  /** Batch buffers this worker may have (flow control: it waits for one to come back). */
  buffers: number;
  chunking?: ChunkingParams;
  /** A saved stat cache to consult (each worker loads its own copy). */
  cacheFile?: string;
  /** `PackIndex.exportTables()` of what the sink holds: objects a cached stamp may skip. */
  stored?: Uint8Array[];
}


/** A batch's buffer, handed back by the caller once its objects are packed. */
export interface BatchReturn {
  buf: ArrayBuffer;
}

/** A directory row: path, signature, tree id, newest change (ms). */
export type DirRow = [string, string, ObjectId, number];
/** A finished job: its index in `jobs`, and its result. */
export type DoneRow = [number, DirSnapshot | RunScan];

export type SnapshotWorkerMessage =
  /**
   * Objects as records [id 32][length u32 LE][bytes], in the order they were made, then what the
   * caller records once they are stored: stat cache rows (`encodeFileRow`s, concatenated),
   * progress, and the directories finished.
   */
  | { type: "batch"; buf: ArrayBuffer; length: number; files: number; bytes: number; fileRows: ArrayBuffer; dirRows: DirRow[]; done: DoneRow[]; last: boolean }
  | { type: "error"; job: number; name: string; message: string; code?: string; path?: string; reason?: string };

export const BATCH_BYTES = 4 * 1024 * 1024;
const RECORD_HEADER = 36;

/**
 * Collects what a snapshot would cache, for the calling thread to apply to the real stat cache;
 * answers lookups from a loaded copy of it, if any.
 */
class RecordingCache implements FileIdCache {
  fileRows: Buffer[] = [];
  dirRows: DirRow[] = [];
  base: StatCache | undefined;
  lookup(path: string, stamp: FileStamp): CachedIds | undefined {
    return this.base?.lookup(path, stamp);
  }
  lookupDir(path: string, signature: string): ObjectId | undefined {
    return this.base?.lookupDir(path, signature);
  }
  record(path: string, s: FileStamp, ids: CachedIds): void {
    this.fileRows.push(encodeFileRow(path, s, ids));
  }
  recordDir(path: string, signature: string, treeId: ObjectId, newestChangeMs: number): void {
    this.dirRows.push([path, signature, treeId, newestChangeMs]);
  }
}

class BatchSink implements ObjectSink {
  readonly #seen = new Set<ObjectId>();
  readonly #stored: PackIndex | undefined;
  readonly #work: SnapshotWork;
  readonly cache = new RecordingCache();
  readonly #free: ArrayBuffer[] = [];
  #made = 0;
  #returned: (() => void) | undefined;
  #buf: Buffer | undefined;
  #length = 0;
  files = 0;
  bytes = 0;
  done: DoneRow[] = [];

  constructor(work: SnapshotWork) {
    this.#work = work;
    this.#stored = work.stored === undefined ? undefined : PackIndex.fromTables(work.stored);
  }

  // What the sink held when the work began, or what this worker sent since: either is in a pack
  // that is stored before anything this worker sends next.
  has(id: ObjectId): boolean {
    return this.#seen.has(id) || this.#stored?.has(id) === true;
  }

  giveBack(buf: ArrayBuffer): void {
    if (buf.byteLength === BATCH_BYTES) this.#free.push(buf);
    else this.#made--;
    this.#returned?.();
  }

  async #take(): Promise<Buffer> {
    for (;;) {
      const free = this.#free.pop();
      if (free !== undefined) return Buffer.from(free);
      if (this.#made < this.#work.buffers) {
        this.#made++;
        return Buffer.from(new ArrayBuffer(BATCH_BYTES));
      }
      await new Promise<void>((resolve) => (this.#returned = resolve));
    }
  }

  async add(id: ObjectId, data: Buffer): Promise<boolean> {
    if (this.#seen.has(id)) return false;
    this.#seen.add(id);
    const need = RECORD_HEADER + data.length;
    let b = (this.#buf ??= await this.#take());
    if (this.#length + need > b.length) {
      if (this.#length > 0) this.post(false);
      // An object bigger than a batch travels alone, in a buffer of its own.
      b = this.#buf = need > BATCH_BYTES ? (this.#made++, Buffer.from(new ArrayBuffer(need))) : await this.#take();
    }
    b.write(id, this.#length, 32, "hex");
    b.writeUInt32LE(data.length, this.#length + 32);
    data.copy(b, this.#length + RECORD_HEADER);
    this.#length += need;
    return true;
  }

  /** Hands the batch over, with what goes with it. */
  post(last: boolean): void {
    const buf = (this.#buf?.buffer ?? new ArrayBuffer(0)) as ArrayBuffer;
    // Its own memory (never a slice of a shared pool), since it is transferred.
    const rows = Buffer.allocUnsafeSlow(this.cache.fileRows.reduce((n, r) => n + r.length, 0));
    let o = 0;
    for (const r of this.cache.fileRows) o += r.copy(rows, o);
    const m: SnapshotWorkerMessage = {
      type: "batch",
      buf,
      length: this.#length,
      files: this.files,
      bytes: this.bytes,
      fileRows: rows.buffer as ArrayBuffer,
      dirRows: this.cache.dirRows,
      done: this.done,
      last,
    };
    parentPort!.postMessage(m, [buf, rows.buffer as ArrayBuffer]);
    this.cache.fileRows = [];
    this.cache.dirRows = [];
    this.done = [];
    this.files = 0;
    this.bytes = 0;
    this.#buf = undefined;
    this.#length = 0;
  }
}

async function runJob(job: WorkerJob, work: SnapshotWork, sink: BatchSink): Promise<DirSnapshot | RunScan> {
  let last = { files: 0, bytes: 0 };
  const onProgress = (p: { files: number; bytes: number }) => {
    sink.files += p.files - last.files;
    sink.bytes += p.bytes - last.bytes;
    last = p;
  };
  if ("dir" in job) {
    return snapshotDir(job.dir, { sink, cache: sink.cache, ...(work.chunking ? { chunking: work.chunking } : {}), onProgress });
  }
  const { runsDir, runId, metaDir } = job.run;
  const { snapshot, stats } = await snapshotRun(runsDir, runId, { sink: idOnlySink, cache: sink.cache, metaDir, onProgress });
  return { files: snapshot.files, meta: snapshot.meta, user: snapshot.user, stats };
}

async function run(work: SnapshotWork, sink: BatchSink): Promise<void> {
  if (work.cacheFile !== undefined) sink.cache.base = await StatCache.load(work.cacheFile);
  for (let k = Atomics.add(work.next, 0, 1); k < work.jobs.length; k = Atomics.add(work.next, 0, 1)) {
    try {
      // Not `sink.done.push(await ...)`: that would push into the array a post replaced meanwhile.
      const result = await runJob(work.jobs[k]!, work, sink);
      sink.done.push([k, result]);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const message: SnapshotWorkerMessage = { type: "error", job: k, name: e.name, message: e.message };
      if (e.code !== undefined) message.code = e.code;
      if (typeof e.path === "string") message.path = e.path;
      if (err instanceof UnsafePathError) message.reason = err.reason;
      parentPort!.postMessage(message);
      return;
    }
  }
  sink.post(true);
}

let sink: BatchSink | undefined;
parentPort?.on("message", (m: SnapshotWork | BatchReturn) => {
  if ("jobs" in m) void run(m, (sink = new BatchSink(m)));
  else sink?.giveBack(m.buf);
});
