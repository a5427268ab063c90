/**
 * Where msgpack values start and end, without decoding them: a catalog's run entries are found
 * (and copied or decoded one run at a time) without turning 100,000 of them into objects.
 * Every read is bounded by the buffer: a truncated or hostile value throws a RangeError.
 */

/** The header of a map or array at `p`: how many values follow (a map: pairs), and where they start. */
export interface Container {
  kind: "map" | "array";
  count: number;
  body: number;
}

function need(b: Uint8Array, end: number): void {
  if (end > b.length) throw new RangeError("msgpack value runs past the end of its bytes");
}

function u16(b: Uint8Array, p: number): number {
  need(b, p + 2);
  return (b[p]! << 8) | b[p + 1]!;
}

function u32(b: Uint8Array, p: number): number {
  need(b, p + 4);
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}

/** The map or array header at `p`, or undefined when another kind of value starts there. */
export function containerAt(b: Uint8Array, p: number): Container | undefined {
  need(b, p + 1);
  const t = b[p]!;
  if (t >= 0x80 && t <= 0x8f) return { kind: "map", count: t & 0x0f, body: p + 1 };
  if (t >= 0x90 && t <= 0x9f) return { kind: "array", count: t & 0x0f, body: p + 1 };
  if (t === 0xdc) return { kind: "array", count: u16(b, p + 1), body: p + 3 };
  if (t === 0xdd) return { kind: "array", count: u32(b, p + 1), body: p + 5 };
  if (t === 0xde) return { kind: "map", count: u16(b, p + 1), body: p + 3 };
  if (t === 0xdf) return { kind: "map", count: u32(b, p + 1), body: p + 5 };
  return undefined;
}

/** The string at `p` and where it ends, or undefined when another kind of value starts there. */
export function stringAt(b: Uint8Array, p: number): { value: string; end: number } | undefined {
  need(b, p + 1);
  const t = b[p]!;
  let start: number;
  let length: number;
  if (t >= 0xa0 && t <= 0xbf) [start, length] = [p + 1, t & 0x1f];
  else if (t === 0xd9) [start, length] = [p + 2, (need(b, p + 2), b[p + 1]!)];
  else if (t === 0xda) [start, length] = [p + 3, u16(b, p + 1)];
  else if (t === 0xdb) [start, length] = [p + 5, u32(b, p + 1)];
  else return undefined;
  need(b, start + length);
  return { value: Buffer.from(b.buffer, b.byteOffset + start, length).toString("utf8"), end: start + length };
}

/**
 * The end of the value that starts at `p` (nested values included). A loop over a count of values
 * still to skip, not recursion: a hostile nesting depth cannot overflow the stack.
 */
export function skipValue(b: Uint8Array, p: number): number {
  let pending = 1;
  while (pending > 0) {
    pending--;
    need(b, p + 1);
    const t = b[p]!;
    if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) p += 1;
    else if (t <= 0x8f) (pending += 2 * (t & 0x0f)), (p += 1);
    else if (t <= 0x9f) (pending += t & 0x0f), (p += 1);
    else if (t <= 0xbf) p += 1 + (t & 0x1f);
    else
      switch (t) {
        case 0xc4:
        case 0xd9:
          need(b, p + 2);
          p += 2 + b[p + 1]!;
          break;
        case 0xc5:
        case 0xda:
          p += 3 + u16(b, p + 1);
          break;
        case 0xc6:
        case 0xdb:
          p += 5 + u32(b, p + 1);
          break;
        case 0xc7:
          need(b, p + 2);
          p += 3 + b[p + 1]!;
          break;
        case 0xc8:
          p += 4 + u16(b, p + 1);
          break;
        case 0xc9:
          p += 6 + u32(b, p + 1);
          break;
        case 0xca:
        case 0xce:
        case 0xd2:
          p += 5;
          break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          p += 9;
          break;
        case 0xcc:
        case 0xd0:
          p += 2;
          break;
        case 0xcd:
        case 0xd1:
          p += 3;
          break;
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
          p += 2 + (1 << (t - 0xd4));
          break;
        case 0xdc:
        case 0xdd:
        case 0xde:
        case 0xdf: {
          const c = containerAt(b, p)!;
          pending += c.kind === "map" ? 2 * c.count : c.count;
          p = c.body;
          break;
        }
        default:
          throw new RangeError(`msgpack type 0x${t.toString(16)} is not valid`);
      }
    // A count larger than the bytes left cannot be real: stop before looping over it.
    if (pending > b.length - p) throw new RangeError("msgpack value runs past the end of its bytes");
  }
  need(b, p);
  return p;
}

/** The header bytes of an array of `count` values (the shortest form). */
export function arrayHeader(count: number): Buffer {
  if (count < 16) return Buffer.from([0x90 | count]);
  if (count < 0x10000) return Buffer.from([0xdc, count >> 8, count & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = 0xdd;
  b.writeUInt32BE(count, 1);
  return b;
}
