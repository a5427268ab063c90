import { availableParallelism } from "node:os";
import { appendJobPath, gitCheckoutAsync, type FileStamp } from "../../objects/index.js";
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

/** A new file to write from a blob; `done` is told its stamp and SHA-256, or undefined when left to the caller. */
export interface CheckoutFile {
  path: string;
  mode: number;
  mtimeUs: number | undefined;
  oid: GitOid;
  size: number;
  done: (written: { stamp: FileStamp; sha256: string } | undefined) => void;
}

interface Batch {
  pack: string;
  jobs: Buffer;
  used: number;
  files: CheckoutFile[];
  bytes: number;
}

/**
 * Writes new files straight from whole blob entries of local packs, on the addon's threads
 * (native/git_checkout.c): each entry inflated, checked against its Git id and hashed with
 * SHA-256 there, so this thread holds no file's bytes. An entry the addon cannot take (a delta,
 * damaged bytes) is handed back to the caller, whose reader names the fault.
 */
export class GitPackCheckout {
  readonly #fsync: boolean;
  readonly #threads = availableParallelism();
  readonly #batches = new Map<string, Batch>();
  #inFlight: Promise<void>[] = [];

  private constructor(fsync: boolean) {
    this.#fsync = fsync;
  }

  /** A writer when the addon is built with `gitCheckoutAsync`. */
  static create(fsync: boolean): GitPackCheckout | undefined {
    return gitCheckoutAsync === undefined ? undefined : new GitPackCheckout(fsync);
  }

  async add(span: PackSpan, file: CheckoutFile): Promise<void> {
    let b = this.#batches.get(span.pack);
    if (b === undefined) {
      b = { pack: span.pack, jobs: Buffer.allocUnsafe(256 * 1024), used: 0, files: [], bytes: 0 };
      this.#batches.set(span.pack, b);
    }
    const { jobs: job, nameBytes } = appendJobPath(b.jobs, b.used, JOB_HEADER, file.path);
    b.jobs = job;
    const at = b.used;
    job.writeDoubleLE(span.start, at);
    job.writeDoubleLE(span.end, at + 8);
    job.writeUInt32LE(file.size, at + 16);
    job.writeUInt32LE(file.mode, at + 20);
    job.writeDoubleLE(file.mtimeUs ?? -1, at + 24);
    job.write(file.oid, at + 32, 20, "hex");
    job.writeUInt16LE(nameBytes, at + 52);
    b.used += JOB_HEADER + nameBytes;
    b.files.push(file);
    b.bytes += file.size;
    if (b.files.length >= BATCH_FILES || b.bytes >= BATCH_BYTES) await this.#flush(b);
  }

  async #flush(b: Batch): Promise<void> {
    this.#batches.delete(b.pack);
    if (b.files.length === 0) return;
    const count = b.files.length;
    const stamps = new Float64Array(count * 4);
    const sums = Buffer.allocUnsafe(count * 32);
    const job = gitCheckoutAsync!(b.pack, b.jobs.subarray(0, b.used), count, this.#threads, this.#fsync, stamps, sums).then(() =>
      b.files.forEach((f, i) => {
        const s = i * 4;
        f.done(stamps[s]! < 0 ? undefined : { stamp: { size: stamps[s]!, mtimeMs: stamps[s + 1]!, ctimeMs: stamps[s + 2]!, ino: stamps[s + 3]! }, sha256: sums.toString("hex", i * 32, i * 32 + 32) });
      }),
    );
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
