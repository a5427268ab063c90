import { createHash, hash } from "node:crypto";
import { inflateRawSync } from "node:zlib";
import pLimit from "p-limit";
import { packKey, type ObjectId, type PackIndex, type PackLocation } from "../objects/index.js";
import type { PackIndexEntry } from "../objects/pack.js";
import type { Storage } from "../remotes/storage.js";
import type { PackSubset } from "./verify-result.js";
import { locationProblem, type Finding } from "./verify-walk.js";

// `gage verify --read-data` (verify.ts): every reachable object read and hashed, pack by pack.
// A pack's objects are read in offset order, in spans of up to SPAN bytes (one ranged read each,
// so a 16 MiB pack is one request), hashed as they come; an object larger than a span is
// streamed alone and hashed incrementally. Memory stays near `concurrency` spans.

const SPAN = 16 * 1024 * 1024;
// Reachable objects further apart than this are read in two requests rather than one.
const MAX_GAP = 1024 * 1024;

interface Located extends PackLocation {
  id: ObjectId;
}

export interface DataPlan {
  /** Packs to read → their reachable objects, in offset order. */
  packs: Map<ObjectId, Located[]>;
  /** Packs holding reachable objects, before the subset chose. */
  of: number;
  objects: number;
  bytes: number;
}

/** Groups the objects to read by pack (those of the subset's packs only). */
export function planData(ids: Iterable<ObjectId>, index: PackIndex, subset: PackSubset | undefined): DataPlan {
  const all = new Map<ObjectId, Located[]>();
  for (const id of ids) {
    const loc = index.get(id);
    if (loc === undefined) continue;
    let list = all.get(loc.packId);
    if (list === undefined) all.set(loc.packId, (list = []));
    list.push({ id, ...loc });
  }
  const packs = new Map<ObjectId, Located[]>();
  let objects = 0;
  let bytes = 0;
  for (const [packId, list] of all) {
    if (subset !== undefined && !subset.has(packId)) continue;
    list.sort((a, b) => a.offset - b.offset);
    packs.set(packId, list);
    objects += list.length;
    for (const e of list) bytes += e.storedLength;
  }
  return { packs, of: all.size, objects, bytes };
}

/** Every object the indexes list inside a pack file that is there (`entries`: pack id → its index). */
export function planAll(entries: ReadonlyMap<ObjectId, readonly PackIndexEntry[]>, sizes: ReadonlyMap<ObjectId, number>): DataPlan {
  const packs = new Map<ObjectId, Located[]>();
  let objects = 0;
  let bytes = 0;
  for (const [packId, list] of entries) {
    const size = sizes.get(packId);
    if (size === undefined) continue;
    const inside = list.filter((e) => locationProblem({ packId, ...e }, sizes) === undefined).map((e) => ({ packId, ...e }));
    inside.sort((a, b) => a.offset - b.offset);
    packs.set(packId, inside);
    objects += inside.length;
    for (const e of inside) bytes += e.storedLength;
  }
  return { packs, of: packs.size, objects, bytes };
}

/** Runs of neighbouring objects read as one request: at most SPAN bytes, or one larger object. */
function spansOf(list: readonly Located[]): Located[][] {
  const spans: Located[][] = [];
  let cur: Located[] = [];
  let start = 0;
  let end = 0;
  for (const e of list) {
    // An object overlapping the one before (a hostile index) starts a span of its own.
    if (cur.length > 0 && (e.offset < end || e.offset - end > MAX_GAP || e.offset + e.storedLength - start > SPAN)) {
      spans.push(cur);
      cur = [];
    }
    if (cur.length === 0) start = e.offset;
    cur.push(e);
    end = e.offset + e.storedLength;
  }
  if (cur.length > 0) spans.push(cur);
  return spans;
}

/** The object's bytes when `stored` is the object `e` says, else why not. */
function checkStored(e: Located, stored: Buffer): Buffer | string {
  let data = stored;
  if (e.codec === 1) {
    try {
      data = inflateRawSync(stored, { maxOutputLength: Math.max(1, e.rawLength) });
    } catch {
      return "cannot be decompressed";
    }
  }
  if (data.length !== e.rawLength) return `${data.length} bytes, its index says ${e.rawLength}`;
  const actual = hash("sha256", data, "hex");
  return actual === e.id ? data : `its bytes hash to ${actual}`;
}

export interface DataProgress {
  (objects: number, bytes: number): void;
}

/**
 * Reads and hashes the planned objects. Returns a finding for each object whose bytes are wrong
 * or that could not be read whole; `keep` sees each sound object's bytes (valid only during the call).
 */
export async function readData(
  storage: Storage,
  plan: DataPlan,
  concurrency: number,
  onRead: DataProgress,
  keep?: (id: ObjectId, data: Buffer) => void,
): Promise<Map<ObjectId, Finding>> {
  const findings = new Map<ObjectId, Finding>();
  const bad = (e: Located, reason: string, kind: Finding["kind"] = "object-damaged") => findings.set(e.id, { kind, packId: e.packId, reason });
  const limit = pLimit(concurrency);
  const jobs: Promise<void>[] = [];
  for (const [packId, list] of plan.packs) {
    for (const span of spansOf(list)) {
      jobs.push(
        limit(async () => {
          const start = span[0]!.offset;
          const last = span.at(-1)!;
          const end = last.offset + last.storedLength;
          try {
            if (span.length === 1 && end - start > SPAN) await streamOne(storage, packId, last, (r) => r !== undefined && bad(last, r));
            else {
              const bytes = await storage.getBytes(packKey(packId), { start, end });
              for (const e of span) {
                const stored = bytes.subarray(e.offset - start, e.offset - start + e.storedLength);
                const got = stored.length < e.storedLength ? "the pack ends before it" : checkStored(e, stored);
                if (typeof got === "string") bad(e, got);
                else keep?.(e.id, got);
              }
            }
          } catch (err) {
            if ((err as { code?: unknown }).code !== "NOT_FOUND") throw err;
            for (const e of span) bad(e, "its pack file is missing", "index-without-pack");
          }
          onRead(span.length, span.reduce((n, e) => n + e.storedLength, 0));
        }),
      );
    }
  }
  await Promise.all(jobs);
  return findings;
}

/** One large object, hashed as it streams (only uncompressed ones get here: see MAX_INFLATED). */
async function streamOne(storage: Storage, packId: ObjectId, e: Located, done: (reason: string | undefined) => void): Promise<void> {
  if (e.codec !== 0) return done(`a compressed object of ${e.storedLength} bytes, more than any gage writes`);
  const h = createHash("sha256");
  let n = 0;
  const stream = await storage.get(packKey(packId), { start: e.offset, end: e.offset + e.storedLength });
  for await (const chunk of stream) {
    h.update(chunk as Buffer);
    n += (chunk as Buffer).length;
  }
  if (n !== e.storedLength) return done("the pack ends before it");
  const actual = h.digest("hex");
  done(actual === e.id ? undefined : `its bytes hash to ${actual}`);
}
