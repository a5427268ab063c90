import pLimit from "p-limit";
import {
  CorruptObjectError,
  decodeChunkList,
  decodeTree,
  FormatError,
  UnsafePathError,
  type ObjectId,
  type ObjectReader,
  type PackLocation,
  comparePackOrder,
} from "../objects/index.js";
import { PACK_HEADER_BYTES, PACK_RECORD_HEADER_BYTES } from "../objects/pack.js";

// Following what runs reach, for `gage verify` (verify.ts): every object looked up in the pack
// indexes, every tree and chunk list read, hashed and decoded, each problem noted against the
// object (a finding) and linked to what reaches it, so that the runs it affects can be named.

/** What is wrong with one object. */
export interface Finding {
  kind: "object-missing" | "object-damaged" | "size-mismatch" | "entry-outside-pack" | "index-without-pack";
  /** The pack the index places it in, if any. */
  packId?: ObjectId;
  reason: string;
}

/** A chunked file as a tree records it: its whole SHA-256, its size, its chunk list. */
export interface ChunkedFile {
  id: ObjectId;
  size: number;
  chunks: ObjectId;
}

/** Where objects are, as the listing and the indexes say. */
export interface PackTable {
  reader: ObjectReader;
  /** Bytes of each pack file listed. */
  sizes: ReadonlyMap<ObjectId, number>;
}

// Trees read per batch (neighbours share a request), and nesting beyond which a tree is refused.
const BATCH = 1024;
const MAX_DEPTH = 4096;
/** Objects larger than this are not inflated in memory: no object gage writes comes near it. */
export const MAX_INFLATED = 64 * 1024 * 1024;

/** Why `loc` cannot be read from the pack files listed, or undefined when it can. */
export function locationProblem(loc: PackLocation, sizes: ReadonlyMap<ObjectId, number>): Omit<Finding, "packId"> | undefined {
  const size = sizes.get(loc.packId);
  if (size === undefined) return { kind: "index-without-pack", reason: "its pack file is missing" };
  if (loc.offset < PACK_HEADER_BYTES + PACK_RECORD_HEADER_BYTES || loc.offset + loc.storedLength > size) {
    return { kind: "entry-outside-pack", reason: `bytes ${loc.offset}–${loc.offset + loc.storedLength} lie outside the pack (${size} bytes)` };
  }
  if (loc.codec !== 0 && loc.codec !== 1) return { kind: "object-damaged", reason: `unknown codec ${loc.codec as number}` };
  if (loc.codec === 0 && loc.storedLength !== loc.rawLength) return { kind: "object-damaged", reason: "stored and raw lengths differ for an uncompressed object" };
  if (loc.codec === 1 && loc.rawLength > MAX_INFLATED) return { kind: "object-damaged", reason: `declares ${loc.rawLength} bytes inflated, more than any object gage writes` };
  return undefined;
}

/** What reading every pack first found: sound trees and chunk lists kept, and damaged objects. */
export interface PreRead {
  cache: Map<ObjectId, Buffer>;
  findings: ReadonlyMap<ObjectId, Finding>;
}

export class Reachability {
  /** Every object reached, problems included. */
  readonly reached = new Set<ObjectId>();
  readonly findings = new Map<ObjectId, Finding>();
  /** What reaches each tree and chunk list, and each object with a finding. */
  readonly #parents = new Map<ObjectId, ObjectId[]>();
  /** Root trees → the runs standing at them. */
  readonly #roots = new Map<ObjectId, Set<string>>();
  readonly #packs: PackTable;
  /** Declared sizes of chunk lists waiting to be read (the file size their tree entry says). */
  readonly #listSizes = new Map<ObjectId, number>();
  #trees: ObjectId[] = [];
  #lists: ObjectId[] = [];
  /** Trees and chunk lists read and decoded (what `linkLate` reads again). */
  readonly #holders: ObjectId[] = [];
  /** Chunked files reached, once each (by chunk list, id and size): `--read-data` hashes them whole. */
  readonly chunkedFiles = new Map<string, ChunkedFile>();

  readonly #pre: PreRead | undefined;

  constructor(packs: PackTable, pre?: PreRead) {
    this.#packs = packs;
    this.#pre = pre;
  }

  note(id: ObjectId, finding: Finding): void {
    if (!this.findings.has(id)) this.findings.set(id, finding);
  }

  #link(child: ObjectId, parent: ObjectId | undefined): void {
    if (parent === undefined) return;
    let list = this.#parents.get(child);
    if (list === undefined) this.#parents.set(child, (list = []));
    // A tree's entries are seen together: a repeat of the last parent is the same link.
    if (list.at(-1) !== parent) list.push(parent);
  }

  /** Looks `id` up; queues trees and chunk lists to read. `size` is what the referring entry declares. */
  #see(id: ObjectId, parent: ObjectId | undefined, kind: "tree" | "chunks" | "leaf", size?: number): void {
    if (kind !== "leaf") this.#link(id, parent);
    const first = !this.reached.has(id);
    this.reached.add(id);
    const loc = this.#packs.reader.index.get(id);
    if (loc === undefined) this.note(id, { kind: "object-missing", reason: "no pack index lists it" });
    else {
      const bad = locationProblem(loc, this.#packs.sizes) ?? this.#pre?.findings.get(id);
      if (bad !== undefined) this.note(id, { ...bad, packId: loc.packId });
      else if (kind === "leaf" && size !== undefined && loc.rawLength !== size) {
        this.note(id, { kind: "size-mismatch", packId: loc.packId, reason: `${loc.rawLength} byte${loc.rawLength === 1 ? "" : "s"}, its tree says ${size}` });
      } else if (first && kind === "tree") this.#trees.push(id);
      else if (first && kind === "chunks") {
        this.#lists.push(id);
        if (size !== undefined) this.#listSizes.set(id, size);
      }
    }
    if (kind === "leaf" && this.findings.has(id)) this.#link(id, parent);
  }

  addRoot(tree: ObjectId, runId: string): void {
    let runs = this.#roots.get(tree);
    if (runs === undefined) this.#roots.set(tree, (runs = new Set()));
    runs.add(runId);
    this.#see(tree, undefined, "tree");
  }

  /** Reads every queued tree and chunk list, level by level, following what they reach. */
  async walk(concurrency: number, onRead: (objects: number, bytes: number) => void): Promise<void> {
    for (let depth = 0; this.#trees.length > 0 || this.#lists.length > 0; depth++) {
      const trees = this.#trees;
      const lists = this.#lists;
      this.#trees = [];
      this.#lists = [];
      if (depth > MAX_DEPTH) {
        for (const id of trees) this.note(id, { kind: "object-damaged", reason: `trees nested more than ${MAX_DEPTH} levels deep` });
        break;
      }
      await this.#readLevel(trees, concurrency, onRead, decodeTree, (id, tree) => {
        for (const e of tree.entries) {
          if (e.kind === "dir") this.#see(e.id, id, "tree");
          else if (e.kind === "file" && e.chunks !== undefined) {
            this.#see(e.chunks, id, "chunks", e.size);
            const key = `${e.chunks} ${e.id} ${e.size}`;
            if (!this.chunkedFiles.has(key)) this.chunkedFiles.set(key, { id: e.id, size: e.size, chunks: e.chunks });
          }
          else this.#see(e.id, id, "leaf", e.size);
        }
      });
      await this.#readLevel(lists, concurrency, onRead, decodeChunkList, (id, list) => {
        const declared = this.#listSizes.get(id);
        this.#listSizes.delete(id);
        if (declared !== undefined && list.size !== declared) {
          this.note(id, { kind: "size-mismatch", reason: `the chunk list says ${list.size} bytes, its tree ${declared}` });
        }
        for (const c of list.chunks) this.#see(c.id, id, "leaf", c.size);
      });
    }
  }

  /** Reads, decodes and follows `ids` in batches; what cannot be read or decoded gets a finding. */
  async #readLevel<T>(
    ids: readonly ObjectId[],
    concurrency: number,
    onRead: (objects: number, bytes: number) => void,
    decode: (data: Buffer) => T,
    follow: (id: ObjectId, value: T) => void,
  ): Promise<void> {
    // In pack order, so a batch holds neighbours (one read of each pack per level, as gc reads).
    const index = this.#packs.reader.index;
    const inOrder = ids.map((id) => ({ id, loc: index.get(id) }));
    inOrder.sort((a, b) => (a.loc !== undefined && b.loc !== undefined ? comparePackOrder(a.loc, b.loc) : Number(a.loc === undefined) - Number(b.loc === undefined)));
    const sorted = inOrder.map((x) => x.id);
    for (let i = 0; i < sorted.length; i += BATCH) {
      for (const [id, data] of await this.#readAll(sorted.slice(i, i + BATCH), concurrency)) {
        onRead(1, data.length);
        const value = this.#decode(id, () => decode(data));
        if (value === undefined) continue;
        this.#holders.push(id);
        follow(id, value);
      }
    }
  }

  #decode<T>(id: ObjectId, decode: () => T): T | undefined {
    try {
      return decode();
    } catch (err) {
      if (!(err instanceof FormatError || err instanceof UnsafePathError)) throw err;
      const packId = this.#packs.reader.index.get(id)?.packId;
      this.note(id, { kind: "object-damaged", ...(packId ? { packId } : {}), reason: `cannot be decoded (${err.message})` });
      return undefined;
    }
  }

  /** The objects' verified bytes; each one that cannot be read gets a finding instead. */
  async #readAll(ids: ObjectId[], concurrency: number): Promise<Map<ObjectId, Buffer>> {
    const out = new Map<ObjectId, Buffer>();
    const cache = this.#pre?.cache;
    if (cache !== undefined) {
      for (const id of ids) {
        const data = cache.get(id);
        if (data === undefined) continue;
        out.set(id, data);
        cache.delete(id);
      }
    }
    const reader = this.#packs.reader;
    const limit = pLimit(concurrency);
    const one = async (id: ObjectId) => {
      try {
        out.set(id, await reader.read(id));
      } catch (err) {
        const packId = reader.index.get(id)?.packId;
        if (err instanceof CorruptObjectError) this.note(id, { kind: "object-damaged", ...(packId ? { packId } : {}), reason: corruptReason(err) });
        else if ((err as { code?: unknown }).code === "NOT_FOUND") this.note(id, { kind: "index-without-pack", ...(packId ? { packId } : {}), reason: "its pack file is missing" });
        else throw err;
      }
    };
    await Promise.all(
      clusters(ids.filter((id) => !out.has(id)), reader).map((cluster) =>
        limit(async () => {
          try {
            for await (const { id, data } of reader.readMany(cluster, { concurrency: 1 })) out.set(id, data);
          } catch {
            // One bad object fails its whole request: read them one by one to learn which.
            for (const id of cluster) if (!out.has(id)) await one(id);
          }
        }),
      ),
    );
    return out;
  }

  /** The runs that reach any of `ids`: up through what reaches them, to the roots. */
  runsReachingAny(ids: readonly ObjectId[]): Set<string> {
    const runs = new Set<string>();
    const seen = new Set<ObjectId>(ids);
    const queue = [...ids];
    while (queue.length > 0) {
      const node = queue.pop()!;
      for (const r of this.#roots.get(node) ?? []) runs.add(r);
      for (const p of this.#parents.get(node) ?? []) {
        if (!seen.has(p)) {
          seen.add(p);
          queue.push(p);
        }
      }
    }
    return runs;
  }

  /**
   * Links objects found damaged after the walk (reading data) to the trees and chunk lists that
   * reach them, reading those again: the walk keeps no links to sound files, there are too many.
   */
  async linkLate(ids: ReadonlySet<ObjectId>, concurrency: number): Promise<void> {
    if (ids.size === 0) return;
    const holders = this.#holders.filter((id) => !ids.has(id));
    for (let i = 0; i < holders.length; i += BATCH) {
      for (const [id, data] of await this.#readAll(holders.slice(i, i + BATCH), concurrency)) {
        const children = this.#childrenOf(data);
        for (const c of children) if (ids.has(c)) this.#link(c, id);
      }
    }
  }

  #childrenOf(data: Buffer): ObjectId[] {
    try {
      return decodeTree(data).entries.map((e) => e.chunks ?? e.id);
    } catch {
      try {
        return decodeChunkList(data).chunks.map((c) => c.id);
      } catch {
        return [];
      }
    }
  }
}

// Trees sit among file data in packs: reads that bridge gaps wider than this would read the files too.
const CLUSTER_GAP = 32 * 1024;
const CLUSTER_SPAN = 4 * 1024 * 1024;

/** Ids in runs of near neighbours within one pack: one request each. */
function clusters(ids: readonly ObjectId[], reader: ObjectReader): ObjectId[][] {
  const located = ids.map((id) => ({ id, loc: reader.index.get(id)! }));
  located.sort((a, b) => comparePackOrder(a.loc, b.loc));
  const out: ObjectId[][] = [];
  let cur: ObjectId[] = [];
  let pack = "";
  let start = 0;
  let end = 0;
  for (const { id, loc } of located) {
    const near = loc.packId === pack && loc.offset - end <= CLUSTER_GAP && loc.offset + loc.storedLength - start <= CLUSTER_SPAN;
    if (!near && cur.length > 0) {
      out.push(cur);
      cur = [];
    }
    if (cur.length === 0) [pack, start, end] = [loc.packId, loc.offset, 0];
    cur.push(id);
    end = Math.max(end, loc.offset + loc.storedLength);
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

export function corruptReason(err: CorruptObjectError): string {
  const at = err.message.indexOf(" is corrupt: ");
  return at < 0 ? err.message : err.message.slice(at + " is corrupt: ".length);
}
