import { decodeAs, decodeChunkList, decodeTree, scanTree, writeIdBytes, type ObjectId, type ObjectReader, type PackLocation } from "../objects/index.js";
import { EMPTY_TREE } from "./merge.js";

// Trees read per round of marking: neighbouring ones share a request (ObjectReader.readMany).
const MARK_BATCH = 4096;

/**
 * The objects of one level of marking, to be read: their ids as bytes, side by side, with the run
 * that reaches each and where it is. No string or object per id: a level can hold most of a
 * remote's trees, and what it held outlived the young generation into the old one.
 */
class Level {
  ids = Buffer.allocUnsafe(32 * 256);
  readonly runs: string[] = [];
  readonly packs: ObjectId[] = [];
  readonly offsets: number[] = [];

  get length(): number {
    return this.runs.length;
  }

  push(bytes: Uint8Array, at: number, runId: string, loc: PackLocation): void {
    const n = this.runs.length;
    if ((n + 1) * 32 > this.ids.length) {
      const grown = Buffer.allocUnsafe(this.ids.length * 2);
      this.ids.copy(grown, 0, 0, n * 32);
      this.ids = grown;
    }
    this.ids.set(bytes.subarray(at, at + 32), n * 32);
    this.runs.push(runId);
    this.packs.push(loc.packId);
    this.offsets.push(loc.offset);
  }

  id(i: number): ObjectId {
    return this.ids.toString("hex", i * 32, i * 32 + 32);
  }

  /**
   * Rounds of at most MARK_BATCH objects in pack order that split no pack smaller than a round,
   * so that each level of trees reads each pack once: in id order every round had objects in
   * every pack, and each pack was read again every round.
   */
  rounds(): Uint32Array[] {
    const { packs, offsets } = this;
    const order = new Uint32Array(this.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
    order.sort((a, b) => (packs[a]! < packs[b]! ? -1 : packs[a]! > packs[b]! ? 1 : offsets[a]! - offsets[b]!));
    const rounds: Uint32Array[] = [];
    let start = 0;
    for (let i = 0; i < order.length; ) {
      let end = i;
      while (end < order.length && packs[order[end]!] === packs[order[i]!]) end++;
      // One pack's objects: into this round if they fit, else a round of their own (in parts if larger).
      if (i - start + (end - i) > MARK_BATCH && i > start) {
        rounds.push(order.subarray(start, i));
        start = i;
      }
      for (; i < end; i++) {
        if (i + 1 - start === MARK_BATCH) {
          rounds.push(order.subarray(start, i + 1));
          start = i + 1;
        }
      }
    }
    if (start < order.length) rounds.push(order.subarray(start));
    return rounds;
  }
}

export interface MarkProgress {
  objects: number;
  bytes: number;
  total?: { objects: number; bytes: number };
}

/** What marking reads from and adds to: `gage gc`'s store, or a push checking runs it names. */
export interface Closure {
  /** Reads the objects of every pack index listed now. */
  reader: ObjectReader;
  /** A `Set`, or any set of ids (gc keeps a compact one, which also takes ids as bytes). */
  reachable: { has(id: ObjectId): boolean; add(id: ObjectId): unknown; hasAt?(bytes: Uint8Array, at: number): boolean; addAt?(bytes: Uint8Array, at: number): unknown };
  /** Objects the runs reach that no index lists → a run that reaches it. */
  missing: Map<ObjectId, string>;
  /** Pack files by id, when some may be gone (gc): an object in a pack without a file is missing. */
  packs?: ReadonlyMap<ObjectId, { size?: number }>;
}

// An id given as hex, as bytes (reused: no buffer per id).
const scratch = Buffer.alloc(32);

/**
 * Marks every object reachable from `roots` (tree ids with a run that reaches them): trees and
 * chunk lists are read, verified and followed; files, chunks and link targets are only looked up.
 * What no pack holds goes to `store.missing`. Only the trees a run stands at are roots: the trees
 * a version supersedes (`prior`) are history for merging, compared by id and never read. Trees
 * are walked on their bytes (`scanTree`): an id is a string only when it is read or missing.
 */
export async function markReachable(
  store: Closure,
  roots: Iterable<[ObjectId, string]>,
  onProgress?: (p: MarkProgress) => void,
  options: { chunkLists?: Iterable<[ObjectId, string]>; missing?: Map<ObjectId, string> } = {},
): Promise<void> {
  const { reachable, reader } = store;
  const missing = options.missing ?? store.missing;
  const hex = (b: Uint8Array, at: number) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex", at, at + 32);
  const has = reachable.hasAt?.bind(reachable) ?? ((b: Uint8Array, at: number) => reachable.has(hex(b, at)));
  const add = reachable.addAt?.bind(reachable) ?? ((b: Uint8Array, at: number) => reachable.add(hex(b, at)));
  let objects = 0;
  let bytes = 0;
  const see = (b: Uint8Array, at: number, runId: string, follow?: Level) => {
    if (has(b, at) || (missing.size > 0 && missing.has(hex(b, at)))) return;
    const loc = reader.index.getAt(b, at);
    // A pack file gc removed (when marking again after removing) holds nothing any more.
    if (loc === undefined || (store.packs !== undefined && store.packs.get(loc.packId)?.size === undefined)) {
      missing.set(hex(b, at), runId);
      return;
    }
    add(b, at);
    objects++;
    bytes += loc.storedLength;
    follow?.push(b, at, runId, loc);
  };
  const seeHex = (id: ObjectId, runId: string, follow?: Level) => {
    writeIdBytes(id, scratch);
    see(scratch, 0, runId, follow);
  };
  const report = () => {
    onProgress?.({ objects, bytes });
    objects = bytes = 0;
  };
  let trees = new Level();
  let lists = new Level();
  // A part never pushed (`--only`) stands at the empty tree, which need not be stored.
  for (const [id, runId] of roots) if (id !== EMPTY_TREE) seeHex(id, runId, trees);
  for (const [id, runId] of options.chunkLists ?? []) seeHex(id, runId, lists);
  while (trees.length > 0 || lists.length > 0) {
    const next = new Level();
    for (const round of trees.rounds()) {
      const runOf = new Map<ObjectId, string>();
      for (const i of round) runOf.set(trees.id(i), trees.runs[i]!);
      for await (const { id, data } of reader.readMany(runOf.keys())) {
        const runId = runOf.get(id)!;
        const walked = scanTree(data, (e) => {
          if (e.kind === "dir") see(data, e.idAt, runId, next);
          else if (e.chunksAt >= 0) see(data, e.chunksAt, runId, lists);
          else see(data, e.idAt, runId);
        });
        // Not as `encodeTree` writes it: decoded (which says what is wrong), and followed again.
        if (!walked) {
          for (const e of decodeAs(id, data, decodeTree).entries) {
            if (e.kind === "dir") seeHex(e.id, runId, next);
            else if (e.kind === "file" && e.chunks !== undefined) seeHex(e.chunks, runId, lists);
            else seeHex(e.id, runId);
          }
        }
      }
      report();
    }
    for (const round of lists.rounds()) {
      const runOf = new Map<ObjectId, string>();
      for (const i of round) runOf.set(lists.id(i), lists.runs[i]!);
      for await (const { id, data } of reader.readMany(runOf.keys())) {
        for (const c of decodeAs(id, data, decodeChunkList).chunks) seeHex(c.id, runOf.get(id)!);
      }
      report();
    }
    trees = next;
    lists = new Level();
  }
  report();
}
