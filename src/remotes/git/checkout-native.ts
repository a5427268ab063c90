import { availableParallelism } from "node:os";
import { appendJobPath, gitCheckoutAsync } from "../../objects/index.js";
import type { GitOid } from "./objects.js";

// A job's fixed part (native/git_checkout.c): start, end, size, mode, mtime, SHA-1, path length.
const JOB_HEADER = 54;
/** Larger blobs are read by the caller (the addon's per-thread buffers are bounded). */
export const MAX_CHECKOUT_BLOB = 16 * 1024 * 1024;
// A batch is handed to the addon's threads at this many bytes or files; two are in flight.
const BATCH_BYTES = 16 * 1024 * 1024;
const BATCH_FILES = 2048;
const BATCHES_IN_FLIGHT = 2;

/** A whole blob entry of a pack: the pack's path and the entry's start and end. */
export interface PackSpan {
  pack: string;
  start: number;
  end: number;
}

/**
 * Told of a batch of files once the addon is through with them: per file (in order) 4 numbers of
 * `stamps` (size, mtimeMs, ctimeMs, ino; a negative size: not written, left to the caller) and 32
 * bytes of `sums` (its SHA-256), so a batch costs one call and no object per file.
 */
export type CheckedOut<T> = (files: readonly T[], stamps: Float64Array, sums: Buffer) => void;

interface Batch<T> {
  pack: string;
  jobs: Buffer;
  used: number;
  files: T[];
  bytes: number;
}

/**
 * Writes new files straight from whole blob entries of local packs, on the addon's threads
 * (native/git_checkout.c): each entry inflated, checked against its Git id and hashed with
 * SHA-256 there, so this thread holds no file's bytes. An entry the addon cannot take (a delta,
 * damaged bytes) is handed back to the caller, whose reader names the fault.
 */
export class GitPackCheckout<T> {
  readonly #fsync: boolean;
  readonly #threads = availableParallelism();
  readonly #done: CheckedOut<T>;
  readonly #batches = new Map<string, Batch<T>>();
  #inFlight: Promise<void>[] = [];

  private constructor(fsync: boolean, done: CheckedOut<T>) {
    this.#fsync = fsync;
    this.#done = done;
  }

  /** A writer when the addon is built with `gitCheckoutAsync`; `done` is told of each batch. */
  static create<T>(fsync: boolean, done: CheckedOut<T>): GitPackCheckout<T> | undefined {
    return gitCheckoutAsync === undefined ? undefined : new GitPackCheckout<T>(fsync, done);
  }

  /**
   * Queues a new file at `path` from blob `oid` of `size` bytes at `span` (`of`: the caller's record
   * of it). Returns a promise only when the caller must wait (batches in flight).
   */
  add(span: PackSpan, of: T, path: string, mode: number, mtimeUs: number | undefined, oid: GitOid, size: number): Promise<void> | undefined {
    let b = this.#batches.get(span.pack);
    if (b === undefined) {
      b = { pack: span.pack, jobs: Buffer.allocUnsafe(256 * 1024), used: 0, files: [], bytes: 0 };
      this.#batches.set(span.pack, b);
    }
    const { jobs: job, nameBytes } = appendJobPath(b.jobs, b.used, JOB_HEADER, path);
    b.jobs = job;
    const at = b.used;
    job.writeDoubleLE(span.start, at);
    job.writeDoubleLE(span.end, at + 8);
    job.writeUInt32LE(size, at + 16);
    job.writeUInt32LE(mode, at + 20);
    job.writeDoubleLE(mtimeUs ?? -1, at + 24);
    job.write(oid, at + 32, 20, "hex");
    job.writeUInt16LE(nameBytes, at + 52);
    b.used += JOB_HEADER + nameBytes;
    b.files.push(of);
    b.bytes += size;
    return b.files.length >= BATCH_FILES || b.bytes >= BATCH_BYTES ? this.#flush(b) : undefined;
  }

  async #flush(b: Batch<T>): Promise<void> {
    this.#batches.delete(b.pack);
    if (b.files.length === 0) return;
    const count = b.files.length;
    const stamps = new Float64Array(count * 4);
    const sums = Buffer.allocUnsafe(count * 32);
    const job = gitCheckoutAsync!(b.pack, b.jobs.subarray(0, b.used), count, this.#threads, this.#fsync, stamps, sums).then(() => this.#done(b.files, stamps, sums));
    job.catch(() => undefined);
    this.#inFlight.push(job);
    if (this.#inFlight.length >= BATCHES_IN_FLIGHT) await this.#inFlight.shift();
  }

  /** Waits for every file added; the first failure is thrown once all have settled. */
  async finish(): Promise<void> {
    try {
      for (const b of [...this.#batches.values()]) await this.#flush(b);
    } finally {
      await this.settle();
    }
  }

  /** After a failure: drops what was not yet handed over, waits for the rest, throws the first failure. */
  async settle(): Promise<void> {
    this.#batches.clear();
    const settled = await Promise.allSettled(this.#inFlight.splice(0));
    const failed = settled.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }
}
