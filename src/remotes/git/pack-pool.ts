import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { PackJob, PackResult } from "./pack-worker.js";

// From source (tests run through tsx) the worker is the .ts file and needs tsx's loader too;
// from dist/ it is the .js file (the bundle puts pack-worker.js beside gage.cjs).
const FROM_SOURCE = import.meta.url.endsWith(".ts");
const WORKER_URL = new URL(FROM_SOURCE ? "./pack-worker.ts" : "./pack-worker.js", import.meta.url);
// One core is left to this thread and the addon's writers (two on two cores were slower than one).
const WORKERS = Math.max(1, Math.min(2, availableParallelism() - 1));

/** A read entry: its type, bytes, Git id and SHA-256, or null where the caller must read it itself. */
export type PooledEntry = { type: string; data: Buffer; sha1: string; sha256: string } | null;

interface Slot {
  worker: Worker;
  waiting: Map<number, { resolve: (r: PackResult) => void; reject: (e: Error) => void }>;
}

const slots: Slot[] = [];
let next = 0;
let jobs = 0;

function slot(): Slot {
  const k = next++ % WORKERS;
  let s = slots[k];
  if (s === undefined) {
    const worker = FROM_SOURCE
      ? new Worker(`import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`, { eval: true })
      : new Worker(WORKER_URL);
    const made: Slot = { worker, waiting: new Map() };
    s = made;
    worker.unref();
    worker.on("message", (r: PackResult) => {
      made.waiting.get(r.job)?.resolve(r);
      made.waiting.delete(r.job);
      if (made.waiting.size === 0) worker.unref();
    });
    const fail = (err: Error) => {
      for (const w of made.waiting.values()) w.reject(err);
      made.waiting.clear();
      if (slots[k] === made) slots[k] = undefined!;
    };
    worker.on("error", fail);
    worker.on("exit", () => fail(new Error("a pack reading thread stopped")));
    slots[k] = s;
  }
  return s;
}

/** Reads whole entries of one pack (start and end of each, in pairs) on a worker thread. */
export async function readEntries(pack: string, spans: number[]): Promise<PooledEntry[]> {
  const s = slot();
  const job = jobs++;
  const r = await new Promise<PackResult>((resolve, reject) => {
    s.waiting.set(job, { resolve, reject });
    s.worker.ref();
    s.worker.postMessage({ job, pack, spans } satisfies PackJob);
  });
  if ("error" in r) throw new Error(r.error);
  return r.items.map((i) => (i === null ? null : { ...i, data: Buffer.from(i.data.buffer, i.data.byteOffset, i.data.byteLength) }));
}
