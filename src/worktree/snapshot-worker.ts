// Runs in a worker thread: snapshots whole directories (walk, read, hash, encode trees) and hands
// the objects to the calling thread in batches, which it packs and stores: reading and hashing is
// most of a first push, and so it uses every core. Or scans runs through a stat cache (ids only,
// nothing stored): the walk that is all of a no-change push, spread the same way. Batches are
// written into a ring of shared buffers the caller made once, and handed back by number once
// packed: no buffer is made or moved per batch (fresh 4 MiB buffers kept the caller's garbage
// collector busy, and so did buffers transferred to it and back), and their number bounds memory.
import { parentPort } from "node:worker_threads";
import { copyBytes, idOnlySink, PackIndex, snapshotDir, UnsafePathError, type ChunkingParams, type ObjectId, type ObjectSink, type SnapshotStats } from "../objects/index.js";
import { snapshotRunParts, type RunParts } from "./run-parts.js";
import { encodeFileRow, StatCache, type CachedIds, type FileIdCache, type FileStamp } from "./stat-cache.js";

/** Store a directory's objects; or scan a run (`snapshotRunParts` without storing: its ids only). */
export type WorkerJob = { dir: string } | { run: { runsDir: string; runId: string; metaDir: string } };

export interface DirSnapshot {
  treeId: ObjectId;
  stats: SnapshotStats;
  /** Its files' times object, stored with its objects (`WorkerSetup.times`). */
  times?: ObjectId;
}


/** Sent first, as the worker starts: it loads the stat cache while the caller gets its jobs ready. */
export interface WorkerSetup {
  /**
   * This worker's batch buffers, of `BATCH_BYTES` each (flow control: it waits for one to come
   * back); none for a scan, which stores nothing.
   */
  ring: SharedArrayBuffer[];
  chunking?: ChunkingParams;
  /** A saved stat cache to consult (each worker loads its own copy). */
  cacheFile?: string;
  /** `PackIndex.exportTables()` of what the sink holds: objects a cached stamp may skip. */
  stored?: Uint8Array[];
  /** Store each directory's files' modification times too (`snapshotDir`'s `times`). */
  times?: boolean;
}

/** Sent once, after the setup: the whole list of jobs, taken one at a time by whichever worker is free. */
export interface SnapshotWork {
  jobs: WorkerJob[];
  /** [0]: the index of the next job to take (shared by every worker). */
  next: Int32Array;
}

/** A batch's buffer (its place in the ring), handed back by the caller once its objects are packed. */
export interface BatchReturn {
  slot: number;
}

/** A directory row: path, signature, tree id, newest change (ms). */
export type DirRow = [string, string, ObjectId, number];
/** A finished job: its index in `jobs`, and its result. */
export type DoneRow = [number, DirSnapshot | RunParts];

export type SnapshotWorkerMessage =
  /**
   * Objects as records [id 32][length u32 LE][bytes], in the order they were made, in `ring[slot]`
   * (or, slot -1, in `buf`: an object larger than a batch, alone), then what the caller records
   * once they are stored: stat cache rows (`encodeFileRow`s, concatenated), progress, the
   * directories finished, and the objects found in `stored` (not sent: the caller notes where they are).
   */
  | {
      type: "batch";
      slot: number;
      buf?: ArrayBuffer;
      length: number;
      files: number;
      bytes: number;
      fileRows: ArrayBuffer;
      dirRows: DirRow[];
      done: DoneRow[];
      found: ObjectId[];
      last: boolean;
    }
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
  /** Objects found in `stored`, once each; those since the last batch are in `found`. */
  readonly #found = new Set<ObjectId>();
  found: ObjectId[] = [];
  readonly #stored: PackIndex | undefined;
  readonly cache = new RecordingCache();
  readonly #ring: Buffer[];
  /** Places in the ring free to fill. */
  readonly #free: number[];
  #returned: (() => void) | undefined;
  #buf: Buffer | undefined;
  /** Where `#buf` is in the ring; -1 for a buffer of its own. */
  #slot = -1;
  #length = 0;
  files = 0;
  bytes = 0;
  done: DoneRow[] = [];

  constructor(setup: WorkerSetup) {
    this.#stored = setup.stored === undefined ? undefined : PackIndex.fromTables(setup.stored);
    this.#ring = setup.ring.map((b) => Buffer.from(b));
    this.#free = this.#ring.map((_, k) => k);
  }

  // What the sink held when the work began, or what this worker sent since: either is in a pack
  // that is stored before anything this worker sends next.
  has(id: ObjectId): boolean {
    if (this.#seen.has(id)) return true;
    if (this.#stored?.has(id) !== true) return false;
    if (!this.#found.has(id)) {
      this.#found.add(id);
      this.found.push(id);
    }
    return true;
  }

  giveBack(slot: number): void {
    this.#free.push(slot);
    this.#returned?.();
  }

  /** A free place in the ring, once there is one. */
  async #take(): Promise<Buffer> {
    if (this.#ring.length === 0) throw new Error("snapshot worker: objects to send, and no batch buffers");
    for (;;) {
      const slot = this.#free.pop();
      if (slot !== undefined) {
        this.#slot = slot;
        return (this.#buf = this.#ring[slot]!);
      }
      await new Promise<void>((resolve) => (this.#returned = resolve));
    }
  }

  async add(id: ObjectId, data: Buffer): Promise<boolean> {
    if (this.has(id)) return false;
    this.#seen.add(id);
    const need = RECORD_HEADER + data.length;
    let b = this.#buf ?? (await this.#take());
    if (this.#length + need > b.length) {
      if (this.#length > 0) this.post(false);
      // An object bigger than a batch travels alone, in a buffer of its own (transferred).
      if (need > BATCH_BYTES) {
        this.#slot = -1;
        b = this.#buf = Buffer.from(new ArrayBuffer(need));
      } else b = await this.#take();
    }
    b.write(id, this.#length, 32, "hex");
    b.writeUInt32LE(data.length, this.#length + 32);
    copyBytes(data, b, this.#length + RECORD_HEADER);
    this.#length += need;
    return true;
  }

  /** Hands the batch over, with what goes with it. */
  post(last: boolean): void {
    const own = this.#buf !== undefined && this.#slot < 0 ? (this.#buf.buffer as ArrayBuffer) : undefined;
    // Its own memory (never a slice of a shared pool), since it is transferred.
    const rows = Buffer.allocUnsafeSlow(this.cache.fileRows.reduce((n, r) => n + r.length, 0));
    let o = 0;
    for (const r of this.cache.fileRows) o += r.copy(rows, o);
    const m: SnapshotWorkerMessage = {
      type: "batch",
      slot: this.#buf === undefined ? -1 : this.#slot,
      ...(own === undefined ? {} : { buf: own }),
      length: this.#length,
      files: this.files,
      bytes: this.bytes,
      fileRows: rows.buffer as ArrayBuffer,
      dirRows: this.cache.dirRows,
      done: this.done,
      found: this.found,
      last,
    };
    parentPort!.postMessage(m, [...(own === undefined ? [] : [own]), rows.buffer as ArrayBuffer]);
    this.cache.fileRows = [];
    this.cache.dirRows = [];
    this.done = [];
    this.found = [];
    this.files = 0;
    this.bytes = 0;
    this.#buf = undefined;
    this.#slot = -1;
    this.#length = 0;
  }
}

async function runJob(job: WorkerJob, setup: WorkerSetup, sink: BatchSink): Promise<DirSnapshot | RunParts> {
  let last = { files: 0, bytes: 0 };
  const onProgress = (p: { files: number; bytes: number }) => {
    sink.files += p.files - last.files;
    sink.bytes += p.bytes - last.bytes;
    last = p;
  };
  if ("dir" in job) {
    return snapshotDir(job.dir, { sink, cache: sink.cache, ...(setup.chunking ? { chunking: setup.chunking } : {}), ...(setup.times ? { times: true } : {}), onProgress });
  }
  // A scan is counted when each run is done: no progress call (and path) per file.
  const { runsDir, runId, metaDir } = job.run;
  const parts = await snapshotRunParts(runsDir, runId, { sink: idOnlySink, cache: sink.cache, metaDir });
  sink.files += parts.stats.files + parts.stats.symlinks;
  sink.bytes += parts.stats.bytes;
  return parts;
}

async function run(work: SnapshotWork, setup: WorkerSetup, sink: BatchSink): Promise<void> {
  for (let k = Atomics.add(work.next, 0, 1); k < work.jobs.length; k = Atomics.add(work.next, 0, 1)) {
    try {
      // Not `sink.done.push(await ...)`: that would push into the array a post replaced meanwhile.
      const result = await runJob(work.jobs[k]!, setup, sink);
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

let started: { setup: WorkerSetup; sink: BatchSink; ready: Promise<void> } | undefined;
parentPort?.on("message", (m: WorkerSetup | SnapshotWork | BatchReturn) => {
  if ("ring" in m) {
    const sink = new BatchSink(m);
    const cacheFile = m.cacheFile;
    const ready = cacheFile === undefined ? Promise.resolve() : StatCache.load(cacheFile).then((c) => void (sink.cache.base = c));
    started = { setup: m, sink, ready };
  } else if ("jobs" in m) {
    const { setup, sink, ready } = started!;
    // A cache that cannot be loaded fails the worker ('error' on the caller's side).
    void ready.then(() => run(m, setup, sink));
  } else started?.sink.giveBack(m.slot);
});
