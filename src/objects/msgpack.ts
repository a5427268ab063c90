// A canonical MessagePack writer: every value has exactly one encoding (the shortest), so the
// same tree gives the same bytes and id on every machine whatever msgpackr version reads it.
// Reading uses msgpackr, and decoders re-encode with this writer to accept only canonical bytes.

import { FormatError } from "./errors.js";

export type MsgValue = null | boolean | number | string | Uint8Array | MsgValue[];

/** Marks a 64-digit hex id to be written as 32 raw bytes (bin 8) without an intermediate Buffer. */
export class HexBytes {
  constructor(readonly hex: string) {}
}

type Writable = MsgValue | HexBytes | Writable[];

export class MsgWriter {
  #buf: Buffer;
  #pos = 0;

  constructor(initial = 256) {
    this.#buf = Buffer.allocUnsafe(initial);
  }

  #room(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + n));
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }

  /** A type byte, then `n` in the smallest of 8 (when `t8` is given), 16 or 32 bits. */
  #length(n: number, t8: number | undefined, t16: number, t32: number): void {
    this.#room(5);
    const b = this.#buf;
    const p = this.#pos;
    if (t8 !== undefined && n < 0x100) {
      b[p] = t8;
      b[p + 1] = n;
      this.#pos += 2;
    } else if (n < 0x10000) {
      b[p] = t16;
      b.writeUInt16BE(n, p + 1);
      this.#pos += 3;
    } else {
      b[p] = t32;
      b.writeUInt32BE(n, p + 1);
      this.#pos += 5;
    }
  }

  array(n: number): void {
    if (n >= 16) return this.#length(n, undefined, 0xdc, 0xdd);
    this.#room(1);
    this.#buf[this.#pos++] = 0x90 | n;
  }

  str(s: string): void {
    this.#room(5 + s.length * 3);
    const b = this.#buf;
    // Write the bytes after the longest header, then move them if a shorter header fits.
    const start = this.#pos;
    const n = b.write(s, start + 5, "utf8");
    let hdr: number;
    if (n < 32) {
      b[start] = 0xa0 | n;
      hdr = 1;
    } else if (n < 0x100) {
      b[start] = 0xd9;
      b[start + 1] = n;
      hdr = 2;
    } else if (n < 0x10000) {
      b[start] = 0xda;
      b.writeUInt16BE(n, start + 1);
      hdr = 3;
    } else {
      b[start] = 0xdb;
      b.writeUInt32BE(n, start + 1);
      hdr = 5;
    }
    if (hdr !== 5) b.copyWithin(start + hdr, start + 5, start + 5 + n);
    this.#pos = start + hdr + n;
  }

  /** 32 raw bytes from 64 hex digits. */
  id(hex: string): void {
    this.#room(34);
    this.#buf[this.#pos] = 0xc4;
    this.#buf[this.#pos + 1] = 32;
    // Buffer#write stops at the first non-hex digit: a short write is a malformed id.
    if (hex.length !== 64 || this.#buf.write(hex, this.#pos + 2, 32, "hex") !== 32) throw new FormatError("object id", JSON.stringify(hex));
    this.#pos += 34;
  }

  bin(bytes: Uint8Array): void {
    this.#length(bytes.length, 0xc4, 0xc5, 0xc6);
    this.#room(bytes.length);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }

  number(v: number): void {
    this.#room(9);
    const b = this.#buf;
    const p = this.#pos;
    if (!Number.isSafeInteger(v) || Object.is(v, -0)) {
      b[p] = 0xcb;
      b.writeDoubleBE(v, p + 1);
      this.#pos += 9;
    } else if (v >= 0) {
      if (v < 0x80) {
        b[p] = v;
        this.#pos += 1;
      } else if (v < 0x100) {
        b[p] = 0xcc;
        b[p + 1] = v;
        this.#pos += 2;
      } else if (v < 0x10000) {
        b[p] = 0xcd;
        b.writeUInt16BE(v, p + 1);
        this.#pos += 3;
      } else if (v < 0x100000000) {
        b[p] = 0xce;
        b.writeUInt32BE(v, p + 1);
        this.#pos += 5;
      } else {
        b[p] = 0xcf;
        b.writeBigUInt64BE(BigInt(v), p + 1);
        this.#pos += 9;
      }
    } else if (v >= -32) {
      b[p] = 0xe0 | (v + 32);
      this.#pos += 1;
    } else if (v >= -0x80) {
      b[p] = 0xd0;
      b.writeInt8(v, p + 1);
      this.#pos += 2;
    } else if (v >= -0x8000) {
      b[p] = 0xd1;
      b.writeInt16BE(v, p + 1);
      this.#pos += 3;
    } else if (v >= -0x80000000) {
      b[p] = 0xd2;
      b.writeInt32BE(v, p + 1);
      this.#pos += 5;
    } else {
      b[p] = 0xd3;
      b.writeBigInt64BE(BigInt(v), p + 1);
      this.#pos += 9;
    }
  }

  value(v: Writable): void {
    if (v === null) {
      this.#room(1);
      this.#buf[this.#pos++] = 0xc0;
    } else if (typeof v === "boolean") {
      this.#room(1);
      this.#buf[this.#pos++] = v ? 0xc3 : 0xc2;
    } else if (typeof v === "number") this.number(v);
    else if (typeof v === "string") this.str(v);
    else if (v instanceof HexBytes) this.id(v.hex);
    else if (v instanceof Uint8Array) this.bin(v);
    else {
      this.array(v.length);
      for (const item of v) this.value(item);
    }
  }

  /** The bytes written, as a Buffer of their own. */
  done(): Buffer {
    return Buffer.from(this.#buf.subarray(0, this.#pos));
  }
}

export function encodeValue(v: Writable): Buffer {
  const w = new MsgWriter();
  w.value(v);
  return w.done();
}
