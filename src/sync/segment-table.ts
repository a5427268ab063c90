import { isRunId } from "../runs/layout.js";

/**
 * A catalog segment as its root names it (docs/formats.md, Catalogs): its key, how many runs it
 * holds, and their ids, sorted, as 16-byte binary UUIDs one after another.
 */
export interface SegmentRef {
  key: string;
  n: number;
  ids: Buffer;
}

/** `segments/<64 hex>`: the SHA-256 of the segment's bytes. */
export const SEGMENT_PREFIX = "segments/";
export const SEGMENT_KEY_RE = /^segments\/([0-9a-f]{64})$/;

/** A run id (a lower-case UUID) as the 16 bytes a segment table holds; undefined for any other id. */
export function idBytes(id: string): Buffer | undefined {
  return isRunId(id) ? Buffer.from(id.replaceAll("-", ""), "hex") : undefined;
}

/** The run id at position `i` of a table of 16-byte ids. */
export function idAt(ids: Buffer, i: number): string {
  const h = ids.toString("hex", i * 16, i * 16 + 16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Ids packed as a table (16 bytes each, in the order given). */
export function idTable(ids: readonly string[]): Buffer {
  const out = Buffer.allocUnsafe(ids.length * 16);
  ids.forEach((id, i) => out.write(id.replaceAll("-", ""), i * 16, "hex"));
  return out;
}

/** Where `id` (as bytes) is in a sorted table, or -1. */
function indexIn(ids: Buffer, n: number, target: Buffer): number {
  let lo = 0;
  let hi = n - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = ids.compare(target, 0, 16, mid * 16, mid * 16 + 16);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** The first table position whose id is not before `target` (the first bytes of an id), or `n`. */
function lowerBound(ids: Buffer, n: number, target: Buffer): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids.compare(target, 0, target.length, mid * 16, mid * 16 + target.length) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface TableSegment extends SegmentRef {
  /** Its first id (segments hold disjoint ranges of ids, in order). */
  first: string;
  loaded: boolean;
}

/**
 * A root's segments, searched by id without a map of every id (a million runs would cost a map
 * of a million strings): the segment by its first id, then the id in the segment's sorted table.
 */
export class SegmentTable {
  readonly segments: TableSegment[];

  readonly #total: number;

  constructor(refs: readonly SegmentRef[], loaded = false) {
    this.segments = refs.map((r) => ({ ...r, first: idAt(r.ids, 0), loaded }));
    this.#total = refs.reduce((n, r) => n + r.n, 0);
  }

  /** The segment that lists `id`, if any. */
  find(id: string): TableSegment | undefined {
    const segs = this.segments;
    let lo = 0;
    let hi = segs.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (segs[mid]!.first <= id) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (at < 0) return undefined;
    const target = idBytes(id);
    if (target === undefined) return undefined;
    const seg = segs[at]!;
    return indexIn(seg.ids, seg.n, target) >= 0 ? seg : undefined;
  }

  /**
   * Which of `ids` the segments list, in one walk of the sorted ids along the tables: asking
   * `find` for each of thousands of held runs converted and searched them one by one.
   */
  listed(ids: Iterable<string>): Set<string> {
    const out = new Set<string>();
    if (this.segments.length === 0) return out;
    const list = [...ids];
    // A few ids among many: each searched costs less than walking every table.
    if (list.length * 32 < this.#total) {
      for (const id of list) if (this.find(id) !== undefined) out.add(id);
      return out;
    }
    // Ids with dashes where a UUID has them sort as their hex does (dashes dropped); any other id
    // matches no entry.
    const sorted: string[] = [];
    for (const id of list) if (id.length === 36 && id[8] === "-" && id[13] === "-" && id[18] === "-" && id[23] === "-") sorted.push(id);
    sorted.sort();
    const wanted = sorted.map((id) => ({ id, hex: id.slice(0, 8) + id.slice(9, 13) + id.slice(14, 18) + id.slice(19, 23) + id.slice(24) }));
    let k = 0;
    for (const seg of this.segments) {
      if (k >= wanted.length) break;
      const hex = seg.ids.toString("hex");
      let i = 0;
      let at = hex.slice(0, 32);
      while (k < wanted.length && i < seg.n) {
        const want = wanted[k]!;
        if (at < want.hex) at = hex.slice(++i * 32, i * 32 + 32);
        else {
          if (at === want.hex) out.add(want.id);
          k++;
        }
      }
    }
    return out;
  }

  /** The segment not yet loaded that lists `id`. */
  pending(id: string): TableSegment | undefined {
    const seg = this.segments.length === 0 ? undefined : this.find(id);
    return seg?.loaded === false ? seg : undefined;
  }

  /** Ids of the segments not loaded. */
  *pendingIds(): Generator<string> {
    for (const seg of this.segments) if (!seg.loaded) for (let i = 0; i < seg.n; i++) yield idAt(seg.ids, i);
  }

  /** Runs listed by segments not loaded. */
  pendingCount(): number {
    let n = 0;
    for (const seg of this.segments) if (!seg.loaded) n += seg.n;
    return n;
  }

  /** Ids listed (loaded or not) that start with `prefix` (a run id's first characters). */
  withPrefix(prefix: string): string[] {
    const hex = prefix.replaceAll("-", "");
    if (!/^[0-9a-f]+$/.test(hex)) return [];
    // From the first id not before the prefix (an odd one padded with 0) to the last that has it.
    const target = Buffer.from(hex.length % 2 === 0 ? hex : `${hex}0`, "hex");
    const out: string[] = [];
    for (const seg of this.segments) {
      for (let i = lowerBound(seg.ids, seg.n, target); i < seg.n; i++) {
        if (!seg.ids.toString("hex", i * 16, i * 16 + 16).startsWith(hex)) break;
        const id = idAt(seg.ids, i);
        if (id.startsWith(prefix)) out.push(id);
      }
    }
    return out;
  }
}

/**
 * A root's (or a cached view's) list of segments, checked: keys well formed, each table 16 bytes a
 * run, ids strictly in order across all (unless `ordered`: tables a checked file of ours holds).
 * The problem, as a phrase, when it is not.
 */
export function checkSegmentRefs(raw: unknown[], opts: { ordered?: boolean } = {}): SegmentRef[] | string {
  const out: SegmentRef[] = [];
  let last: Buffer | undefined;
  let lastAt = 0;
  for (const s of raw) {
    const { key, n, ids } = (s ?? {}) as Record<string, unknown>;
    if (typeof key !== "string" || !SEGMENT_KEY_RE.test(key)) return `segment key ${JSON.stringify(key)}`;
    if (!Number.isInteger(n) || (n as number) < 1 || !(ids instanceof Uint8Array) || ids.length !== (n as number) * 16) {
      return `segment ${key} lists ${String(n)} runs in ${ids instanceof Uint8Array ? ids.length : "no"} bytes`;
    }
    const table = Buffer.from(ids.buffer, ids.byteOffset, ids.length);
    // Compared as 32-bit words: a native compare per id, or hex strings, cost more than the comparing.
    for (let i = 0; i < (n as number) && opts.ordered !== true; i++) {
      if (last !== undefined && !idBefore(last, lastAt, table, i * 16)) return `run ids of segment ${key} are not in order`;
      last = table;
      lastAt = i * 16;
    }
    out.push({ key, n: n as number, ids: table });
  }
  return out;
}

/** Whether the 16-byte id at `a[i]` sorts strictly before the one at `b[j]`. */
function idBefore(a: Buffer, i: number, b: Buffer, j: number): boolean {
  for (let k = 0; k < 16; k += 4) {
    const x = a.readUInt32BE(i + k);
    const y = b.readUInt32BE(j + k);
    if (x !== y) return x < y;
  }
  return false;
}

/** Ids the tables list whose first 32 bits are within `lo`..`hi` (a name prefix's runs: `nameRange`). */
export function idsInRange(segments: readonly SegmentRef[], lo: number, hi: number): string[] {
  const out: string[] = [];
  for (const seg of segments) {
    const top = (i: number) => seg.ids.readUInt32BE(i * 16);
    if (top(seg.n - 1) < lo || top(0) > hi) continue;
    let a = 0;
    let b = seg.n;
    while (a < b) {
      const mid = (a + b) >>> 1;
      if (top(mid) < lo) a = mid + 1;
      else b = mid;
    }
    for (let i = a; i < seg.n && top(i) <= hi; i++) out.push(idAt(seg.ids, i));
  }
  return out;
}
