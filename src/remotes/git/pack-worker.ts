// Runs in a worker thread: reads whole (not delta) entries of one pack, inflates each and hashes
// it twice (its Git id, SHA-1, and our file id, SHA-256), so a clone's main thread only checks
// and writes. An entry this cannot read is left to the caller, whose own read names the fault.
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { parentPort } from "node:worker_threads";
import { entryHeader, inflateExact, wholeType } from "./pack-read.js";

export interface PackJob {
  job: number;
  pack: string;
  /** Each entry's start and end in the pack, in pairs. */
  spans: number[];
}

/** Per entry: its type, bytes, SHA-1 and SHA-256, or null for the caller to read. */
export type PackItem = { type: string; data: Uint8Array; sha1: string; sha256: string } | null;
export type PackResult = { job: number; items: PackItem[]; transfer?: ArrayBuffer[] } | { job: number; error: string };

function read(fd: number, at: number, length: number): Buffer | undefined {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, at + got);
    if (n === 0) return undefined;
    got += n;
  }
  return buf;
}

function inflateOne(fd: number, start: number, end: number): { type: string; data: Buffer } | undefined {
  const entry = end > start ? read(fd, start, end - start) : undefined;
  const head = entry === undefined ? undefined : entryHeader(entry);
  const type = head === undefined ? undefined : wholeType(head.type);
  if (entry === undefined || head === undefined || type === undefined) return undefined;
  try {
    return { type, data: inflateExact(entry.subarray(head.p), head.size, "") };
  } catch {
    return undefined;
  }
}

function run(job: PackJob): PackResult {
  const fd = openSync(job.pack, "r");
  try {
    const items: PackItem[] = [];
    const transfer = new Set<ArrayBuffer>();
    for (let k = 0; k < job.spans.length; k += 2) {
      const obj = inflateOne(fd, job.spans[k]!, job.spans[k + 1]!);
      if (obj === undefined) {
        items.push(null);
        continue;
      }
      // Sent without a copy when the object has its buffer to itself (zlib's one output chunk).
      let data = obj.data;
      if (data.buffer.byteLength > data.length + 64 || transfer.has(data.buffer as ArrayBuffer)) {
        data = Buffer.from(new ArrayBuffer(obj.data.length));
        obj.data.copy(data);
      }
      transfer.add(data.buffer as ArrayBuffer);
      const sha1 = createHash("sha1").update(`${obj.type} ${data.length}\0`, "latin1").update(data).digest("hex");
      const sha256 = createHash("sha256").update(data).digest("hex");
      items.push({ type: obj.type, data: new Uint8Array(data.buffer, data.byteOffset, data.length), sha1, sha256 });
    }
    return { job: job.job, items, transfer: [...transfer] };
  } finally {
    closeSync(fd);
  }
}

parentPort?.on("message", (job: PackJob) => {
  let result: PackResult;
  try {
    result = run(job);
  } catch (err) {
    result = { job: job.job, error: (err as Error).message };
  }
  const transfer = "items" in result ? (result.transfer ?? []) : [];
  if ("items" in result) delete result.transfer;
  parentPort!.postMessage(result, transfer);
});
