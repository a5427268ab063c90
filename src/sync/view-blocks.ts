import { hashBytes } from "../objects/index.js";
import { isRunId } from "../runs/layout.js";
import type { RawRun } from "./lazy-runs.js";
import { containerAt } from "./msgpack-spans.js";

/**
 * A block of a cached view's runs (docs/formats.md, Local state): the runs kept for one head the
 * catalog does not hold (each run in the block of the newest such head that changed it), or, with
 * no head, those kept for any other reason. A block is checked against its digest only when it is
 * opened: a block of a head a new catalog holds is dropped unread.
 */
export interface CachedBlock {
  head?: string;
  /** Reads the block's bytes (from the file, still open, or the bytes of the whole file). */
  read: () => Buffer;
  /** Where it is in the file. */
  offset: number;
  length: number;
  sha: string;
}

/** A cached view's blocks not opened yet, and its stale runs (applied once the blocks are open). */
export interface CachedRuns {
  blocks: CachedBlock[];
  stale: string[];
}

/**
 * A block opened whole (of a head, or of runs kept for another reason: `head` undefined): written
 * back as these bytes while its runs are all still held as read from it.
 */
export interface OpenedBlock {
  head?: string;
  offset: number;
  bytes: Buffer;
  sha: string;
  ids: string[];
}

/** A cached view's block does not match its digest or cannot be read: the view is rebuilt from the remote. */
export class CachedViewDamaged extends Error {}

/** A block's runs as read (not decoded), in the order written; throws `CachedViewDamaged`. */
export function blockRuns(block: CachedBlock): { id: string; raw: RawRun }[] {
  return runsOf(block, block.read());
}

/** The runs of a block's bytes, checked against its digest. */
export function runsOf(block: CachedBlock, b: Buffer): { id: string; raw: RawRun }[] {
  if (b.length !== block.length || hashBytes(b) !== block.sha) throw new CachedViewDamaged("a block of the cached view does not match its digest");
  const out: { id: string; raw: RawRun }[] = [];
  for (let p = 0; p < b.length; ) {
    const idEnd = p + 1 + b[p]!;
    const end = idEnd + 4 <= b.length ? idEnd + 4 + b.readUInt32LE(idEnd) : b.length + 1;
    const id = b.toString("latin1", p + 1, Math.min(idEnd, b.length));
    const list = end <= b.length ? containerAt(b, idEnd + 4) : undefined;
    // Run ids name folders: a file that holds anything else is damaged, so not used at all.
    if (list?.kind !== "array" || !isRunId(id)) throw new CachedViewDamaged("the cached view holds a malformed run record");
    out.push({ id, raw: { b, p: list.body, end, n: list.count, from: "cache", record: p } });
    p = end;
  }
  return out;
}
