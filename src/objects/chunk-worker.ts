// Runs in a worker thread: reads one file at a time and cuts it into content-defined chunks,
// while the calling thread hashes the whole file and packs the chunks; the chunks' own hashes are
// shared between the two (see CALLER_BEHIND). Blocks are transferred to the caller, so it sees
// the same bytes without a copy.
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { parentPort } from "node:worker_threads";
import { cutBlock, type ChunkingParams } from "./chunker.js";
import { osPath } from "./names.js";

export interface ChunkJob {
  path: string;
  params: ChunkingParams;
  blockSize: number;
  /** [0]: blocks posted and not yet released by the caller (flow control). */
  inFlight: Int32Array;
  maxInFlight: number;
}

export type ChunkMessage =
  /** Chunks as [start, end, SHA-256 or undefined when the caller is to hash it]. */
  | { type: "block"; block: ArrayBuffer; fresh: [number, number]; chunks: [number, number, string | undefined][] }
  | { type: "done" }
  | { type: "error"; message: string; code?: string };

// Blocks posted and not yet released from which the caller counts as behind.
const CALLER_BEHIND = 2;

function run(job: ChunkJob, post: (m: ChunkMessage, transfer: ArrayBuffer[]) => void): void {
  const { params, blockSize, inFlight } = job;
  const fd = openSync(osPath(job.path), "r");
  try {
    // Not zero-filled (that was a visible part of this thread's time): only bytes read into are ever used.
    let buf = Buffer.allocUnsafeSlow(blockSize);
    let carry = 0;
    for (;;) {
      // Wait until the caller has taken enough blocks: memory stays bounded for any file size.
      while (Atomics.load(inFlight, 0) >= job.maxInFlight) Atomics.wait(inFlight, 0, job.maxInFlight);
      let n = 0;
      // Fill the block: short reads would otherwise make small blocks.
      while (n < blockSize) {
        const got = readSync(fd, buf, carry + n, blockSize - n, null);
        if (got === 0) break;
        n += got;
      }
      const end = carry + n;
      const chunks: [number, number, string | undefined][] = [];
      // Hashing chunks here while the caller has blocks queued (it is the slower side: it hashes the
      // whole file and packs), and leaving them to the caller while it waits for blocks, keeps both
      // threads busy whichever is slower on this machine and load; the ids are the same either way.
      const pos = cutBlock(buf, end, n === 0, params, (start, at) => {
        const callerBehind = Atomics.load(inFlight, 0) >= CALLER_BEHIND;
        chunks.push([start, at, callerBehind ? createHash("sha256").update(buf.subarray(start, at)).digest("hex") : undefined]);
      });
      // The unfinished tail starts the next block; this one is handed over whole (transferred, not
      // shared, so it is freed by the caller's garbage collector once its chunks are stored).
      const next = n === 0 ? undefined : Buffer.allocUnsafeSlow(end - pos + blockSize);
      if (next !== undefined) buf.copy(next, 0, pos, end);
      Atomics.add(inFlight, 0, 1);
      post({ type: "block", block: buf.buffer as ArrayBuffer, fresh: [end - n, end], chunks }, [buf.buffer as ArrayBuffer]);
      if (next === undefined) break;
      buf = next;
      carry = end - pos;
    }
    post({ type: "done" }, []);
  } finally {
    closeSync(fd);
  }
}

parentPort?.on("message", (job: ChunkJob) => {
  const post = (m: ChunkMessage, transfer: ArrayBuffer[]) => parentPort!.postMessage(m, transfer);
  try {
    run(job, post);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    post({ type: "error", message: e.message, ...(e.code === undefined ? {} : { code: e.code }) }, []);
  }
});
