// Runs in a worker thread: reads one file at a time and cuts it into content-defined chunks,
// while the calling thread hashes the whole file and packs the chunks; the chunks' own hashes are
// shared between the two (see CALLER_BEHIND). Blocks are transferred to the caller, so it sees
// the same bytes without a copy, and handed back once read, to be read into again: a fresh buffer
// per block cost page faults and garbage collections on both threads. (A ring of shared buffers
// would need no handing back; a transferred one makes a view kept past its block read as empty,
// never as the bytes read into it next.)
import { closeSync, openSync, readSync } from "node:fs";
import { parentPort, receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import { cutBlock, type ChunkingParams } from "./chunker.js";
import { hashBytes } from "./ids.js";
import { osPath } from "./names.js";

export interface ChunkJob {
  path: string;
  params: ChunkingParams;
  blockSize: number;
  /** [0]: blocks posted and not yet released by the caller (flow control). */
  inFlight: Int32Array;
  maxInFlight: number;
}

/** Sent once, before any job: where the caller hands each block's buffer back (transferred) before it releases the block. */
export interface ChunkWorkerSetup {
  returns: MessagePort;
}

export type ChunkMessage =
  /** Chunks as [start, end, SHA-256 or undefined when the caller is to hash it]. */
  | { type: "block"; block: ArrayBuffer; fresh: [number, number]; chunks: [number, number, string | undefined][] }
  | { type: "done" }
  | { type: "error"; message: string; code?: string };

// Blocks posted and not yet released from which the caller counts as behind.
const CALLER_BEHIND = 2;

let returns: MessagePort | undefined;
/** Buffers handed back, kept from file to file. */
const free: Buffer[] = [];

function run(job: ChunkJob, post: (m: ChunkMessage, transfer: ArrayBuffer[]) => void): void {
  const { params, blockSize, inFlight } = job;
  const size = blockSize + params.maxSize;
  // A buffer handed back, else a new one: fewer than maxInFlight blocks are out when one is
  // taken, and each was handed back before it was released, so at most maxInFlight are made.
  const take = (): Buffer => {
    for (let m = returns && receiveMessageOnPort(returns); m !== undefined; m = receiveMessageOnPort(returns!)) free.push(Buffer.from(m.message as ArrayBuffer));
    for (let b = free.pop(); b !== undefined; b = free.pop()) if (b.length === size) return b;
    // Not zero-filled (that was a visible part of this thread's time): only bytes read into are ever used.
    return Buffer.allocUnsafeSlow(size);
  };
  // The unfinished tail of a block (shorter than a chunk's maximum), which starts the next.
  const tail = Buffer.allocUnsafeSlow(params.maxSize);
  let carry = 0;
  const fd = openSync(osPath(job.path), "r");
  try {
    for (;;) {
      // Wait until the caller has taken enough blocks: memory stays bounded for any file size.
      while (Atomics.load(inFlight, 0) >= job.maxInFlight) Atomics.wait(inFlight, 0, job.maxInFlight);
      const buf = take();
      tail.copy(buf, 0, 0, carry);
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
        chunks.push([start, at, callerBehind ? hashBytes(buf.subarray(start, at)) : undefined]);
      });
      carry = n === 0 ? 0 : buf.copy(tail, 0, pos, end);
      Atomics.add(inFlight, 0, 1);
      post({ type: "block", block: buf.buffer as ArrayBuffer, fresh: [end - n, end], chunks }, [buf.buffer as ArrayBuffer]);
      if (n === 0) break;
    }
    post({ type: "done" }, []);
  } finally {
    closeSync(fd);
  }
}

parentPort?.on("message", (job: ChunkJob | ChunkWorkerSetup) => {
  if ("returns" in job) {
    returns = job.returns;
    return;
  }
  const post = (m: ChunkMessage, transfer: ArrayBuffer[]) => parentPort!.postMessage(m, transfer);
  try {
    run(job, post);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    post({ type: "error", message: e.message, ...(e.code === undefined ? {} : { code: e.code }) }, []);
  }
});
