import { closeSync, openSync, readSync, statSync } from "node:fs";
import { inflateSync } from "node:zlib";
import { gitInflateSync } from "../../objects/dir-listing.js";
import { CorruptObjectError } from "../../objects/errors.js";

/** Packs with an open file, least recently read first. */
const OPEN = new Set<PackFile>();
const MAX_OPEN_PACKS = 64;

/** Pack entry types (Git's numbers). */
const OBJ_TYPES = ["", "commit", "tree", "blob", "tag"] as const;
const OFS_DELTA = 6;
const REF_DELTA = 7;

/** No object read here may be larger (a checkpoint over it belongs in the lfs store). */
export const MAX_OBJECT_BYTES = 1024 * 1024 * 1024;
/** Deflate expands a byte to at most about this many: a larger claim is a lie, never allocated. */
const MAX_INFLATE_RATIO = 1032;
/** Compressed entries up to this size inflate to at most 64 MiB whatever they claim. */
const UNBOUNDED_INPUT = 64 * 1024;
/** Objects up to this size inflate through the addon when it is built. */
const NATIVE_INFLATE_BYTES = 16 * 1024 * 1024;
/** Longer delta chains than Git ever makes (its maximum depth is 4095) are refused. */
const MAX_DELTA_DEPTH = 5000;

/** A pack entry's type number, stated size and where its body starts; undefined when malformed. */
export function entryHeader(entry: Buffer): { type: number; size: number; p: number } | undefined {
  let p = 0;
  let c = entry[p++]!;
  const type = (c >> 4) & 7;
  let size = c & 15;
  for (let shift = 4; c & 0x80; shift += 7) {
    if (p >= entry.length || shift > 35) return undefined;
    c = entry[p++]!;
    size += (c & 0x7f) * 2 ** shift;
  }
  return { type, size, p };
}

/** The name of a whole (not delta) entry's type number; undefined for a delta or an unknown type. */
export function wholeType(type: number): string | undefined {
  return type === OFS_DELTA || type === REF_DELTA ? undefined : OBJ_TYPES[type] || undefined;
}

export interface PackedObject {
  type: string;
  data: Buffer;
}

/** Inflates exactly one zlib stream of `size` bytes, refusing a size the compressed bytes cannot justify. */
export function inflateExact(compressed: Buffer, size: number, where: string): Buffer {
  if (size > MAX_OBJECT_BYTES || size > compressed.length * MAX_INFLATE_RATIO + 64) throw new CorruptObjectError(where, { reason: `it claims ${size} bytes from ${compressed.length} compressed` });
  // The addon's stream, reused, for all but the largest objects; it says only whether the size came out.
  if (gitInflateSync !== undefined && size <= NATIVE_INFLATE_BYTES) {
    const got = gitInflateSync(compressed, size);
    if (got !== undefined) return got;
  }
  let out: Buffer;
  try {
    // Small input cannot inflate past a bound worth checking; zlib's own bound costs more per call.
    // One output chunk a byte larger than the object: zlib then returns it without joining chunks.
    const chunkSize = Math.max(64, size + 1);
    out = compressed.length <= UNBOUNDED_INPUT ? inflateSync(compressed, { chunkSize }) : inflateSync(compressed, { chunkSize, maxOutputLength: Math.max(1, size) });
  } catch (err) {
    throw new CorruptObjectError(where, { reason: `its compressed bytes do not inflate to ${size} (${(err as Error).message})` }, { cause: err });
  }
  if (out.length !== size) throw new CorruptObjectError(where, { reason: `it inflates to ${out.length} bytes, not ${size}` });
  return out;
}

/**
 * One pack of a Git repository, read through its version-2 index (`.idx`): objects are found by a
 * binary search of the index and read with one positioned read each (an entry ends where the next
 * one starts). Deltas are resolved against their bases, kept in a small cache. Every number in
 * the index and the pack is checked against the file's size; ids are checked by the caller.
 */
export class PackFile {
  readonly path: string;
  readonly #idx: Buffer;
  readonly #count: number;
  #fd: number | undefined;
  readonly #packSize: number;
  /** Offsets of every entry, ascending, for where an entry ends. */
  #sorted: Float64Array | undefined;
  readonly #bases = new Map<number, PackedObject>();
  #baseBytes = 0;
  /** Resolves a REF_DELTA base found in another pack or loose. */
  readonly #external: (oid: string) => PackedObject | undefined;

  constructor(packPath: string, idx: Buffer, external: (oid: string) => PackedObject | undefined) {
    this.path = packPath;
    if (idx.length < 8 + 1024 + 40 || idx.readUInt32BE(0) !== 0xff744f63 || idx.readUInt32BE(4) !== 2) throw new CorruptObjectError(packPath, { reason: "its index is not a version-2 pack index" });
    this.#count = idx.readUInt32BE(8 + 255 * 4);
    if (idx.length < 8 + 1024 + this.#count * 28 + 40) throw new CorruptObjectError(packPath, { reason: "its index is truncated" });
    this.#idx = idx;
    this.#packSize = statSync(packPath).size;
    this.#external = external;
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    OPEN.delete(this);
  }

  /** The pack's file, opened at first use; a repository of many packs keeps only the latest used open. */
  #file(): number {
    if (this.#fd !== undefined) {
      OPEN.delete(this);
      OPEN.add(this);
      return this.#fd;
    }
    this.#fd = openSync(this.path, "r");
    OPEN.add(this);
    if (OPEN.size > MAX_OPEN_PACKS) OPEN.values().next().value!.close();
    return this.#fd;
  }

  get count(): number {
    return this.#count;
  }

  /** The oid of the `k`-th object in the index (ascending). */
  oidAt(k: number): string {
    return this.#idx.toString("hex", 1032 + k * 20, 1032 + k * 20 + 20);
  }

  /** The entry's offset in the pack, or -1 when the pack lacks it. */
  find(oid: string): number {
    // Compared a 32-bit word at a time: a Buffer and a native compare per step cost more than the search.
    const w0 = parseInt(oid.slice(0, 8), 16);
    const first = w0 >>> 24;
    let lo = first === 0 ? 0 : this.#idx.readUInt32BE(8 + (first - 1) * 4);
    // A damaged fan-out table could point past the ids: the search stays within them.
    let hi = Math.min(this.#count, this.#idx.readUInt32BE(8 + first * 4));
    const idx = this.#idx;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const at = 1032 + mid * 20;
      let c = w0 - idx.readUInt32BE(at);
      for (let w = 1; c === 0 && w < 5; w++) c = parseInt(oid.slice(w * 8, w * 8 + 8), 16) - idx.readUInt32BE(at + w * 4);
      if (c === 0) return this.offsetAt(mid);
      if (c > 0) lo = mid + 1;
      else hi = mid;
    }
    return -1;
  }

  offsetAt(k: number): number {
    const at = 1032 + this.#count * 24 + k * 4;
    const v = this.#idx.readUInt32BE(at);
    if ((v & 0x80000000) === 0) return v;
    const large = 1032 + this.#count * 28 + (v & 0x7fffffff) * 8;
    if (large + 8 > this.#idx.length - 40) throw new CorruptObjectError(this.path, { reason: "its index names a large offset it lacks" });
    return Number(this.#idx.readBigUInt64BE(large));
  }

  #end(offset: number): number {
    if (this.#sorted === undefined) {
      const sorted = new Float64Array(this.#count);
      for (let k = 0; k < this.#count; k++) sorted[k] = this.offsetAt(k);
      this.#sorted = sorted.sort();
    }
    const s = this.#sorted;
    let lo = 0;
    let hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid]! <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo < s.length ? s[lo]! : this.#packSize - 20;
  }

  #pread(at: number, length: number): Buffer {
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = readSync(this.#file(), buf, got, length - got, at + got);
      if (n === 0) throw new CorruptObjectError(this.path, { reason: `it ends before byte ${at + length}` });
      got += n;
    }
    return buf;
  }

  /** Where the entry at `offset` ends (the next entry's start), or -1 when the index places it outside the pack. */
  entryEnd(offset: number): number {
    const end = this.#end(offset);
    return offset < 12 || end <= offset || end > this.#packSize - 20 ? -1 : end;
  }

  /** The type and size an entry's header gives, without inflating it; undefined for a delta. */
  headerAt(offset: number): { type: string; size: number } | undefined {
    const end = this.#end(offset);
    if (offset < 12 || end <= offset || end > this.#packSize - 20) return undefined;
    const h = entryHeader(this.#windowAt(offset, Math.min(end - offset, HEADER_BYTES)));
    const type = h === undefined ? undefined : OBJ_TYPES[h.type];
    return h === undefined || type === undefined || type === "" ? undefined : { type, size: h.size };
  }

  /** Bytes read ahead for entry headers, into one small buffer kept (small neighbours share a read; larger windows cost more in copies than they saved). */
  #window: { at: number; length: number; buf: Buffer } | undefined;

  #windowAt(at: number, length: number): Buffer {
    const w = (this.#window ??= { at: 0, length: 0, buf: Buffer.allocUnsafe(HEADER_WINDOW) });
    if (at < w.at || at + length > w.at + w.length) {
      const want = Math.max(length, Math.min(HEADER_WINDOW, this.#packSize - 20 - at));
      let got = 0;
      while (got < want) {
        const n = readSync(this.#file(), w.buf, got, want - got, at + got);
        if (n === 0) break;
        got += n;
      }
      w.at = at;
      w.length = got;
    }
    return w.buf.subarray(at - w.at, Math.min(at - w.at + length, w.length));
  }


  /** The object at `offset`, its deltas resolved. */
  readAt(offset: number, where: string): PackedObject {
    const chain: { offset: number; delta: Buffer }[] = [];
    let at = offset;
    let base: PackedObject | undefined;
    for (;;) {
      const cached = this.#bases.get(at);
      if (cached !== undefined) {
        base = cached;
        break;
      }
      if (chain.length > MAX_DELTA_DEPTH) throw new CorruptObjectError(where, { reason: "its delta chain is too long (a cycle?)" });
      const end = this.#end(at);
      if (at < 12 || end <= at || end > this.#packSize - 20) throw new CorruptObjectError(where, { reason: `the pack's index places it at ${at}, outside ${this.path}` });
      const entry = this.#pread(at, end - at);
      const head = entryHeader(entry);
      if (head === undefined) throw new CorruptObjectError(where, { reason: "a bad entry header in its pack" });
      const { type, size } = head;
      let p = head.p;
      let c: number;
      if (type === OFS_DELTA) {
        c = entry[p++]!;
        let back = c & 0x7f;
        while (c & 0x80) {
          if (p >= entry.length || back > 2 ** 40) throw new CorruptObjectError(where, { reason: "a bad delta base offset in its pack" });
          c = entry[p++]!;
          back = (back + 1) * 128 + (c & 0x7f);
        }
        if (back <= 0 || back > at) throw new CorruptObjectError(where, { reason: "a delta base outside its pack" });
        chain.push({ offset: at, delta: inflateExact(entry.subarray(p), size, where) });
        at -= back;
        continue;
      }
      if (type === REF_DELTA) {
        if (p + 20 > entry.length) throw new CorruptObjectError(where, { reason: "a truncated delta in its pack" });
        const baseOid = entry.toString("hex", p, p + 20);
        chain.push({ offset: at, delta: inflateExact(entry.subarray(p + 20), size, where) });
        const inPack = this.find(baseOid);
        if (inPack >= 0) {
          at = inPack;
          continue;
        }
        base = this.#external(baseOid);
        if (base === undefined) throw new CorruptObjectError(where, { reason: `its delta base ${baseOid} is missing` });
        break;
      }
      const name = OBJ_TYPES[type];
      if (name === undefined || name === "") throw new CorruptObjectError(where, { reason: `an entry of unknown type ${type} in its pack` });
      base = { type: name, data: inflateExact(entry.subarray(p), size, where) };
      if (chain.length > 0) this.#keep(at, base);
      break;
    }
    for (let k = chain.length - 1; k >= 0; k--) {
      base = { type: base.type, data: applyDelta(base.data, chain[k]!.delta, where) };
      if (k > 0) this.#keep(chain[k]!.offset, base);
    }
    return base;
  }

  #keep(offset: number, obj: PackedObject): void {
    if (obj.data.length > BASE_CACHE_BYTES / 8 || this.#bases.has(offset)) return;
    this.#bases.set(offset, obj);
    this.#baseBytes += obj.data.length;
    for (const [k, v] of this.#bases) {
      if (this.#baseBytes <= BASE_CACHE_BYTES) break;
      this.#bases.delete(k);
      this.#baseBytes -= v.data.length;
    }
  }
}

const HEADER_BYTES = 16;
const HEADER_WINDOW = 4 * 1024;

/** Bases of deltas kept while reading (a pack read in order meets a base just before its deltas). */
const BASE_CACHE_BYTES = 32 * 1024 * 1024;

function varint(delta: Buffer, at: { p: number }, where: string): number {
  let v = 0;
  let shift = 0;
  for (;;) {
    if (at.p >= delta.length || shift > 35) throw new CorruptObjectError(where, { reason: "a bad delta header" });
    const c = delta[at.p++]!;
    v += (c & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(c & 0x80)) return v;
  }
}

/** Git's delta: copies from the base and inserted bytes, each checked against both sizes. */
export function applyDelta(base: Buffer, delta: Buffer, where: string): Buffer {
  const at = { p: 0 };
  const srcSize = varint(delta, at, where);
  const dstSize = varint(delta, at, where);
  if (srcSize !== base.length) throw new CorruptObjectError(where, { reason: `a delta for a base of ${srcSize} bytes applied to ${base.length}` });
  if (dstSize > MAX_OBJECT_BYTES || dstSize > delta.length * 0x10000 + 64) throw new CorruptObjectError(where, { reason: `a delta claims ${dstSize} bytes` });
  const out = Buffer.allocUnsafe(dstSize);
  let o = 0;
  let p = at.p;
  const bad = () => new CorruptObjectError(where, { reason: "a delta that reaches outside its base or result" });
  while (p < delta.length) {
    const op = delta[p++]!;
    if (op & 0x80) {
      let off = 0;
      let len = 0;
      for (let b = 0; b < 4; b++) if (op & (1 << b)) off += delta[p++]! * 2 ** (8 * b);
      for (let b = 0; b < 3; b++) if (op & (0x10 << b)) len += delta[p++]! * 2 ** (8 * b);
      if (p > delta.length) throw bad();
      if (len === 0) len = 0x10000;
      if (off + len > base.length || o + len > dstSize) throw bad();
      base.copy(out, o, off, off + len);
      o += len;
    } else if (op > 0) {
      if (p + op > delta.length || o + op > dstSize) throw bad();
      delta.copy(out, o, p, p + op);
      p += op;
      o += op;
    } else throw new CorruptObjectError(where, { reason: "a delta with a reserved instruction" });
  }
  if (o !== dstSize) throw new CorruptObjectError(where, { reason: `a delta yields ${o} bytes, not ${dstSize}` });
  return out;
}
