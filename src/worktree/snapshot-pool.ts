import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { idOnlySink, UnsafePathError, wholeTreeKey, type ChunkingParams, type ObjectId, type ObjectSink, type PackIndex, type TreeSumLookup } from "../objects/index.js";
import { snapshotRunParts, type RunParts, type RunToScan } from "./run-parts.js";
import type { StatCache } from "./stat-cache.js";
import { BATCH_BYTES, type BatchReturn, type DirSnapshot, type SnapshotWork, type SnapshotWorkerMessage, type WorkerJob, type WorkerSetup } from "./snapshot-worker.js";

export type { DirSnapshot } from "./snapshot-worker.js";
export type { RunToScan } from "./run-parts.js";

// From source (tests run through tsx) the worker is the .ts file and needs tsx's loader too;
// from dist/ it is the .js file.
const FROM_SOURCE = import.meta.url.endsWith(".ts");
const WORKER_URL = new URL(FROM_SOURCE ? "./snapshot-worker.ts" : "./snapshot-worker.js", import.meta.url);
// Batch buffers per worker: enough to keep it reading while this thread packs, few enough to
// bound memory (each is BATCH_BYTES).
const BUFFERS_PER_WORKER = 4;

/** A worker's batch buffers (`WorkerSetup.ring`), shared: made once, never moved. */
const batchRing = () => Array.from({ length: BUFFERS_PER_WORKER }, () => new SharedArrayBuffer(BATCH_BYTES));

export interface ParallelSnapshotOptions {
  /** Where objects go (a scan stores nothing and needs none). */
  sink?: ObjectSink;
  /** Receives what the workers learned (file and directory stamps). */
  cache?: StatCache;
  chunking?: ChunkingParams;
  /** Worker threads (default: the cores available, at most 4). */
  workers?: number;
  /** Files and bytes done since the last call. */
  onProgress?: (delta: { files: number; bytes: number }) => void;
  /** Objects the workers found in `stored` and did not send (each once per worker). */
  onFound?: (ids: readonly ObjectId[]) => void;
  signal?: AbortSignal;
}

function startWorker(): Worker {
  return FROM_SOURCE
    ? new Worker(`import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`, { eval: true })
    : new Worker(WORKER_URL);
}

function workerError(m: Extract<SnapshotWorkerMessage, { type: "error" }>): Error {
  if (m.name === "UnsafePathError" && m.path !== undefined && m.reason !== undefined) return new UnsafePathError(m.path, m.reason);
  const err = new Error(m.message) as NodeJS.ErrnoException;
  if (m.code !== undefined) err.code = m.code;
  if (m.path !== undefined) err.path = m.path;
  return err;
}

/**
 * Snapshots directories on worker threads, as `snapshotDir` does each one: reading and hashing
 * spread over every core while this thread packs. Each directory's objects reach the sink in the
 * order its worker made them (children before parents), and one batch at a time, so the sink sees
 * every tree after its entries. With `cacheFile` (the saved form of `cache`) and `stored` (what
 * the sink holds), workers skip files and directories the cache vouches for and the sink has.
 * With `times`, each directory's files' times object is stored too. What the workers learn is
 * recorded into `cache`. Results are in the order of `dirs`.
 */
export async function snapshotDirsOnWorkers(
  dirs: readonly string[],
  opts: ParallelSnapshotOptions & { sink: ObjectSink; cacheFile?: string; stored?: PackIndex; treeSums?: TreeSumLookup; times?: boolean },
): Promise<DirSnapshot[]> {
  if (dirs.length === 0) return [];
  const pool = new WorkerPool(Math.min(opts.workers ?? defaultWorkers(), dirs.length), batchRing, {
    ...(opts.times ? { times: true } : {}),
    ...(opts.chunking ? { chunking: opts.chunking } : {}),
    ...(opts.cacheFile !== undefined ? { cacheFile: opts.cacheFile } : {}),
    ...(opts.stored !== undefined ? { stored: opts.stored.exportTables() } : {}),
  });
  const results = (await pool.run(dirs.map((dir) => ({ dir })), opts)) as DirSnapshot[];
  // Workers walk folder by folder; the whole-tree rows of folders summed up before are kept
  // here, so the next scan answers each with one lookup.
  dirs.forEach((dir, k) => {
    const sum = opts.treeSums?.get(dir);
    if (sum !== undefined && !(sum instanceof Error)) opts.cache?.recordDir(wholeTreeKey(dir), sum.digest, results[k]!.treeId, sum.newest);
  });
  return results;
}


/**
 * Scans runs on worker threads and this one, as `snapshotRunParts` with a sink that stores nothing:
 * each run's tree ids and user log entries, answered by the stat cache (`cache`, saved at
 * `cacheFile`) where files did not change. What the workers learn is recorded into `cache`.
 * Results are in the order of `runs`. `workers` defaults to one fewer than the cores.
 */
export async function scanRunsOnWorkers(
  runs: readonly RunToScan[],
  opts: Omit<ParallelSnapshotOptions, "sink" | "chunking"> & { cacheFile?: string },
): Promise<RunParts[]> {
  if (runs.length === 0) return [];
  // This thread scans too: it has nothing else to do meanwhile, and needs no start-up.
  const pool = new WorkerPool(Math.min(opts.workers ?? defaultWorkers() - 1, runs.length), () => [], {
    ...(opts.cacheFile !== undefined ? { cacheFile: opts.cacheFile } : {}),
  });
  const scanHere = async (job: WorkerJob): Promise<RunParts> => {
    const { runsDir, runId, metaDir } = (job as { run: RunToScan }).run;
    const parts = await snapshotRunParts(runsDir, runId, {
      sink: idOnlySink,
      metaDir,
      ...(opts.cache ? { cache: opts.cache } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    opts.onProgress?.({ files: parts.stats.files + parts.stats.symlinks, bytes: parts.stats.bytes });
    return parts;
  };
  return (await pool.run(runs.map((run) => ({ run })), opts, scanHere)) as RunParts[];
}

function defaultWorkers(): number {
  return Math.min(availableParallelism(), 4);
}

/** Workers given their setup as they start and one list of jobs after; stopped once it is done. */
class WorkerPool {
  readonly #workers: Worker[];
  /** Each worker's batch buffers, as this thread reads them. */
  readonly #rings: Buffer[][];
  /** A worker that failed before its jobs came (its stat cache would not load). */
  #early: Error | undefined;

  /** `ring`: makes a worker's batch buffers (none for a scan). */
  constructor(count: number, ring: () => SharedArrayBuffer[], setup: Omit<WorkerSetup, "ring">) {
    this.#rings = [];
    this.#workers = Array.from({ length: Math.max(1, count) }, () => {
      const worker = startWorker();
      const early = (err: Error) => void (this.#early ??= err);
      worker.on("error", early);
      const bufs = ring();
      this.#rings.push(bufs.map((b) => Buffer.from(b)));
      const full: WorkerSetup = { ...setup, ring: bufs };
      worker.postMessage(full);
      return worker;
    });
  }

  async #close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }

  /** `here`: how this thread runs a job, to take jobs beside the workers (none when absent). */
  async run(
    jobs: WorkerJob[],
    opts: Omit<ParallelSnapshotOptions, "chunking" | "workers">,
    here?: (job: WorkerJob) => Promise<DirSnapshot | RunParts>,
  ): Promise<(DirSnapshot | RunParts)[]> {
    const results: (DirSnapshot | RunParts)[] = new Array(jobs.length);
    const workers = this.#workers;
    const next = new Int32Array(new SharedArrayBuffer(4));
    let failure: Error | undefined = this.#early;
    // Batches from every worker are applied one at a time: the sink is not safe for interleaved adds.
    let applying: Promise<void> = Promise.resolve();

    const apply = async (m: Extract<SnapshotWorkerMessage, { type: "batch" }>, worker: Worker, ring: readonly Buffer[]) => {
      try {
        if (failure !== undefined) return;
        const buf = m.slot >= 0 ? ring[m.slot]!.subarray(0, m.length) : m.buf === undefined ? Buffer.alloc(0) : Buffer.from(m.buf, 0, m.length);
        for (let p = 0; p < m.length; ) {
          const id = buf.toString("hex", p, p + 32);
          const size = buf.readUInt32LE(p + 32);
          await opts.sink!.add(id, buf.subarray(p + 36, p + 36 + size));
          p += 36 + size;
        }
        const cache = opts.cache;
        if (cache !== undefined) {
          cache.importRows(Buffer.from(m.fileRows));
          for (const [path, signature, treeId, newest] of m.dirRows) cache.recordDir(path, signature, treeId, newest);
        }
        if (m.found.length > 0) opts.onFound?.(m.found);
        if (m.files > 0 || m.bytes > 0) opts.onProgress?.({ files: m.files, bytes: m.bytes });
        for (const [k, result] of m.done) results[k] = result;
      } finally {
        // The sink copied what it keeps: the buffer goes back to be filled again.
        if (!m.last && m.slot >= 0) {
          const back: BatchReturn = { slot: m.slot };
          worker.postMessage(back);
        }
      }
    };

    const drive = (worker: Worker, k: number) =>
      new Promise<void>((resolve, reject) => {
        let finished = false;
        const fail = (err: Error) => {
          failure ??= err;
          reject(err);
        };
        if (failure !== undefined) return fail(failure);
        worker.on("message", (m: SnapshotWorkerMessage) => {
          if (m.type === "error") return fail(workerError(m));
          applying = applying.then(() => apply(m, worker, this.#rings[k]!));
          applying.catch(fail);
          if (m.last) {
            finished = true;
            void applying.then(resolve, () => undefined);
          }
        });
        worker.on("error", fail);
        // Done, a worker ends by itself; before its last batch, it crashed.
        worker.on("exit", (code) => {
          if (!finished) fail(new Error(`snapshot worker exited early with code ${code}`));
        });
        const work: SnapshotWork = { jobs, next };
        worker.postMessage(work);
      });

    // Synchronous walks in all but name: workers' batches wait until this thread runs out of jobs.
    const takeHere = async () => {
      if (here === undefined) return;
      for (let k = Atomics.add(next, 0, 1); k < jobs.length; k = Atomics.add(next, 0, 1)) {
        if (failure !== undefined) return;
        try {
          results[k] = await here(jobs[k]!);
        } catch (err) {
          failure ??= err as Error;
          Atomics.store(next, 0, jobs.length);
          throw err;
        }
      }
    };

    const onAbort = () => {
      failure ??= opts.signal!.reason instanceof Error ? opts.signal!.reason : new Error("aborted");
      for (const w of workers) void w.terminate();
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      opts.signal?.throwIfAborted();
      await Promise.all([...workers.map((w, k) => drive(w, k)), takeHere()]);
      if (failure !== undefined) throw failure;
      return results;
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
      await this.#close();
    }
  }
}
