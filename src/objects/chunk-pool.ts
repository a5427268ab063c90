import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";
import type { ChunkingParams } from "./chunker.js";
import type { ChunkJob, ChunkMessage, ChunkWorkerSetup } from "./chunk-worker.js";
import { hashBytes, type ObjectId } from "./ids.js";

// From source (tests run through tsx) the worker is the .ts file and needs tsx's loader too;
// from dist/ it is the .js file.
const FROM_SOURCE = import.meta.url.endsWith(".ts");
const WORKER_URL = new URL(FROM_SOURCE ? "./chunk-worker.ts" : "./chunk-worker.js", import.meta.url);
const MAX_IN_FLIGHT = 3;

/** The worker, and where its blocks' buffers are handed back (`ChunkWorkerSetup`). */
let shared: { worker: Worker; returns: MessagePort } | undefined;
let busy = false;

/** One worker for the process, created on first use and not keeping the process alive when idle. */
function worker(): NonNullable<typeof shared> {
  if (shared === undefined) {
    const w = FROM_SOURCE
      ? new Worker(`import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`, { eval: true })
      : new Worker(WORKER_URL);
    const channel = new MessageChannel();
    const setup: ChunkWorkerSetup = { returns: channel.port2 };
    w.postMessage(setup, [channel.port2]);
    w.unref();
    const made = { worker: w, returns: channel.port1 };
    w.on("exit", () => {
      channel.port1.close();
      if (shared === made) shared = undefined;
    });
    shared = made;
  }
  return shared;
}

export interface WorkerBlock {
  /** Bytes of the file not seen in earlier blocks, in file order. */
  fresh: Buffer;
  chunks: { data: Buffer; id: ObjectId }[];
}

/**
 * Chunks a file on a worker thread: yields, block by block and in file order, the new bytes (for
 * the whole-file hash) and the chunks completed in that block, each with its SHA-256. At most a
 * few blocks are in flight; a block's bytes are there only until the next is asked for. Falls
 * back to `undefined` when the worker is busy (one job at a time).
 */
export function chunkFileOnWorker(path: string, params: ChunkingParams, blockSize: number): AsyncGenerator<WorkerBlock> | undefined {
  if (busy) return undefined;
  busy = true;
  return run(path, params, blockSize);
}

async function* run(path: string, params: ChunkingParams, blockSize: number): AsyncGenerator<WorkerBlock> {
  const { worker: w, returns } = worker();
  const inFlight = new Int32Array(new SharedArrayBuffer(4));
  const queue: ChunkMessage[] = [];
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  let finished = false;
  const onMessage = (m: ChunkMessage) => {
    queue.push(m);
    wake?.();
  };
  const onError = (err: Error) => {
    failure = err;
    wake?.();
  };
  w.on("message", onMessage);
  w.on("error", onError);
  w.ref();
  try {
    const job: ChunkJob = { path, params, blockSize, inFlight, maxInFlight: MAX_IN_FLIGHT };
    w.postMessage(job);
    for (;;) {
      while (queue.length === 0 && failure === undefined) await new Promise<void>((r) => (wake = r));
      if (failure !== undefined) throw failure;
      const m = queue.shift()!;
      finished = m.type !== "block";
      if (m.type === "done") return;
      if (m.type === "error") throw Object.assign(new Error(m.message), m.code === undefined ? {} : { code: m.code });
      const buf = Buffer.from(m.block);
      yield {
        fresh: buf.subarray(m.fresh[0], m.fresh[1]),
        chunks: m.chunks.map(([start, end, id]) => {
          const data = buf.subarray(start, end);
          return { data, id: id ?? hashBytes(data) };
        }),
      };
      // Read: handed back (then released), and read into again. A consumer keeps a copy of what
      // it keeps (as sinks do); a view it kept anyway reads as empty, not as the next block.
      returns.postMessage(m.block, [m.block]);
      Atomics.sub(inFlight, 0, 1);
      Atomics.notify(inFlight, 0);
    }
  } finally {
    w.off("message", onMessage);
    w.off("error", onError);
    if (!finished) {
      // Stopped early (a crash, or the consumer gave up): the worker may be mid-file; replace it.
      if (shared?.worker === w) shared = undefined;
      void w.terminate();
    } else {
      w.unref();
    }
    busy = false;
  }
}
