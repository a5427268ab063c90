import { comparePackOrder, decodeAs, decodeChunkList, type ObjectId, type ObjectReader, type PackLocation } from "../objects/index.js";
import { EMPTY_TREE } from "./merge.js";

// Trees read per round of marking: neighbouring ones share a request (ObjectReader.readMany).
const MARK_BATCH = 4096;

/**
 * Rounds of at most MARK_BATCH ids in pack order that split no pack smaller than a round, so that
 * each level of trees reads each pack once: in id order every round had objects in every pack,
 * and each pack was read again every round.
 */
function roundsByPack(ids: Iterable<ObjectId>, locs: ReadonlyMap<ObjectId, PackLocation>): ObjectId[][] {
  const located = [...ids].map((id) => ({ id, loc: locs.get(id)! }));
  located.sort((a, b) => comparePackOrder(a.loc, b.loc));
  const rounds: ObjectId[][] = [];
  let round: ObjectId[] = [];
  for (let i = 0; i < located.length; ) {
    let end = i;
    while (end < located.length && located[end]!.loc.packId === located[i]!.loc.packId) end++;
    // One pack's ids: into this round if they fit, else a round of their own (in parts if larger).
    if (round.length + (end - i) > MARK_BATCH && round.length > 0) {
      rounds.push(round);
      round = [];
    }
    for (; i < end; i++) {
      round.push(located[i]!.id);
      if (round.length === MARK_BATCH) {
        rounds.push(round);
        round = [];
      }
    }
  }
  if (round.length > 0) rounds.push(round);
  return rounds;
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
  /** A `Set`, or any set of ids (gc keeps a compact one). */
  reachable: { has(id: ObjectId): boolean; add(id: ObjectId): unknown };
  /** Objects the runs reach that no index lists → a run that reaches it. */
  missing: Map<ObjectId, string>;
  /** Pack files by id, when some may be gone (gc): an object in a pack without a file is missing. */
  packs?: ReadonlyMap<ObjectId, { size?: number }>;
}

/**
 * Marks every object reachable from `roots` (tree ids with a run that reaches them): trees and
 * chunk lists are read, verified and followed; files, chunks and link targets are only looked up.
 * What no pack holds goes to `store.missing`. Only the trees a run stands at are roots: the trees
 * a version supersedes (`prior`) are history for merging, compared by id and never read.
 */
export async function markReachable(
  store: Closure,
  roots: Iterable<[ObjectId, string]>,
  onProgress?: (p: MarkProgress) => void,
  options: { chunkLists?: Iterable<[ObjectId, string]>; missing?: Map<ObjectId, string> } = {},
): Promise<void> {
  const { reachable, reader } = store;
  const missing = options.missing ?? store.missing;
  let objects = 0;
  let bytes = 0;
  const locs = new Map<ObjectId, PackLocation>();
  const see = (id: ObjectId, runId: string, follow?: Map<ObjectId, string>) => {
    if (reachable.has(id) || missing.has(id)) return;
    const loc = reader.index.get(id);
    // A pack file gc removed (when marking again after removing) holds nothing any more.
    if (loc === undefined || (store.packs !== undefined && store.packs.get(loc.packId)?.size === undefined)) {
      missing.set(id, runId);
      return;
    }
    reachable.add(id);
    objects++;
    bytes += loc.storedLength;
    if (follow !== undefined) {
      follow.set(id, runId);
      // Kept for cutting rounds: a second lookup of each id costs the index more than the map.
      locs.set(id, loc);
    }
  };
  const report = () => {
    onProgress?.({ objects, bytes });
    objects = bytes = 0;
  };
  let trees = new Map<ObjectId, string>();
  let lists = new Map<ObjectId, string>();
  // A part never pushed (`--only`) stands at the empty tree, which need not be stored.
  for (const [id, runId] of roots) if (id !== EMPTY_TREE) see(id, runId, trees);
  for (const [id, runId] of options.chunkLists ?? []) see(id, runId, lists);
  while (trees.size > 0 || lists.size > 0) {
    const next = new Map<ObjectId, string>();
    for (const batch of roundsByPack(trees.keys(), locs)) {
      const read = await reader.readTrees(batch);
      for (const id of batch) {
        const runId = trees.get(id)!;
        for (const e of read.get(id)!.entries) {
          if (e.kind === "dir") see(e.id, runId, next);
          else if (e.kind === "file" && e.chunks !== undefined) see(e.chunks, runId, lists);
          else see(e.id, runId);
        }
      }
      report();
    }
    for (const batch of roundsByPack(lists.keys(), locs)) {
      for await (const { id, data } of reader.readMany(batch)) {
        for (const c of decodeAs(id, data, decodeChunkList).chunks) see(c.id, lists.get(id)!);
      }
      report();
    }
    for (const id of trees.keys()) locs.delete(id);
    for (const id of lists.keys()) locs.delete(id);
    trees = next;
    lists = new Map();
  }
  report();
}

