import { createHash, randomBytes } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { crc32, deflateSync } from "node:zlib";

const TYPE_NUMBER = { commit: 1, tree: 2, blob: 3 } as const;

/** Bytes gathered before one write to the file. */
const WRITE_CHUNK = 4 * 1024 * 1024;

/**
 * A Git pack written straight into a repository's `objects/pack/` (whole objects, no deltas),
 * under a temporary name until `finish` gives it and its version-2 index their final names, the
 * pack first: a reader finds a pack by its index, so it never meets a half-written one.
 */
export class GitPackWriter {
  readonly #dir: string;
  readonly #tmp: string;
  readonly #fd: number;
  #offset = 12;
  #parts: Buffer[] = [];
  #partBytes = 0;
  readonly #entries: { oid: Buffer; crc: number; offset: number }[] = [];

  constructor(gitdir: string) {
    this.#dir = join(gitdir, "objects", "pack");
    mkdirSync(this.#dir, { recursive: true });
    // Git's own temporary prefix: `git gc` removes one a killed push left behind.
    this.#tmp = join(this.#dir, `tmp_pack_gage_${randomBytes(6).toString("hex")}`);
    this.#fd = openSync(this.#tmp, "wx+", 0o444);
    this.#parts.push(Buffer.alloc(12));
    this.#partBytes = 12;
  }

  get count(): number {
    return this.#entries.length;
  }

  add(oid: string, type: keyof typeof TYPE_NUMBER, content: Buffer): void {
    const head: number[] = [];
    let size = content.length;
    let c = (TYPE_NUMBER[type] << 4) | (size & 15);
    size = Math.floor(size / 16);
    while (size > 0) {
      head.push(c | 0x80);
      c = size & 0x7f;
      size = Math.floor(size / 128);
    }
    head.push(c);
    const entry = Buffer.concat([Buffer.from(head), deflateSync(content, { level: 1 })]);
    this.#entries.push({ oid: Buffer.from(oid, "hex"), crc: crc32(entry), offset: this.#offset });
    this.#offset += entry.length;
    this.#parts.push(entry);
    this.#partBytes += entry.length;
    if (this.#partBytes >= WRITE_CHUNK) this.#drain();
  }

  #drain(): void {
    const buf = Buffer.concat(this.#parts, this.#partBytes);
    for (let at = 0; at < buf.length; ) at += writeSync(this.#fd, buf, at, buf.length - at);
    this.#parts = [];
    this.#partBytes = 0;
  }

  /** Completes the pack (header, checksum, index), makes it durable and gives it its name; returns its path. */
  finish(): string {
    try {
      this.#drain();
      const header = Buffer.alloc(12);
      header.write("PACK", 0, "latin1");
      header.writeUInt32BE(2, 4);
      header.writeUInt32BE(this.#entries.length, 8);
      writeSync(this.#fd, header, 0, 12, 0);
      // The checksum covers the header written last: the pack is read back once (from the page cache).
      const hash = createHash("sha1");
      const buf = Buffer.allocUnsafe(WRITE_CHUNK);
      for (let at = 0; at < this.#offset; ) {
        const n = readSync(this.#fd, buf, 0, Math.min(buf.length, this.#offset - at), at);
        if (n === 0) throw new Error(`${this.#tmp} is shorter than written`);
        hash.update(buf.subarray(0, n));
        at += n;
      }
      const sum = hash.digest();
      writeSync(this.#fd, sum, 0, 20, this.#offset);
      fsyncSync(this.#fd);
      closeSync(this.#fd);
      const idx = encodeIndex(this.#entries, sum);
      const name = `pack-${sum.toString("hex")}`;
      const idxTmp = `${this.#tmp}.idx`;
      const fd = openSync(idxTmp, "wx", 0o444);
      try {
        for (let at = 0; at < idx.length; ) at += writeSync(fd, idx, at, idx.length - at);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(this.#tmp, join(this.#dir, `${name}.pack`));
      renameSync(idxTmp, join(this.#dir, `${name}.idx`));
      return join(this.#dir, `${name}.pack`);
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  /** Removes the temporary files (a push that failed before finishing). */
  abort(): void {
    try {
      closeSync(this.#fd);
    } catch {
      // closed already
    }
    for (const p of [this.#tmp, `${this.#tmp}.idx`]) {
      try {
        unlinkSync(p);
      } catch {
        // never made, or renamed
      }
    }
  }
}

/** Git's version-2 pack index of these entries. */
function encodeIndex(entries: { oid: Buffer; crc: number; offset: number }[], packSum: Buffer): Buffer {
  const sorted = [...entries].sort((a, b) => Buffer.compare(a.oid, b.oid));
  const n = sorted.length;
  const large = sorted.filter((e) => e.offset >= 0x80000000);
  const out = Buffer.alloc(8 + 1024 + n * 28 + large.length * 8 + 40);
  out.writeUInt32BE(0xff744f63, 0);
  out.writeUInt32BE(2, 4);
  const fanout = new Uint32Array(256);
  for (const e of sorted) fanout[e.oid[0]!]!++;
  let total = 0;
  for (let b = 0; b < 256; b++) {
    total += fanout[b]!;
    out.writeUInt32BE(total, 8 + b * 4);
  }
  let largeAt = 0;
  sorted.forEach((e, k) => {
    e.oid.copy(out, 1032 + k * 20);
    out.writeUInt32BE(e.crc >>> 0, 1032 + n * 20 + k * 4);
    if (e.offset < 0x80000000) out.writeUInt32BE(e.offset, 1032 + n * 24 + k * 4);
    else {
      out.writeUInt32BE((0x80000000 | largeAt) >>> 0, 1032 + n * 24 + k * 4);
      out.writeBigUInt64BE(BigInt(e.offset), 1032 + n * 28 + largeAt * 8);
      largeAt++;
    }
  });
  packSum.copy(out, out.length - 40);
  createHash("sha1").update(out.subarray(0, out.length - 20)).digest().copy(out, out.length - 20);
  return out;
}
