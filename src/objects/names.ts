import { isUtf8 } from "node:buffer";

/**
 * File names as bytes. On Linux a name is any bytes but `/` and NUL; most are UTF-8, and a JS
 * string holds those as they are. A name that is not UTF-8 is held as Python's "surrogateescape"
 * does: each byte of an invalid sequence becomes a lone low surrogate U+DC80..U+DCFF, which no
 * UTF-8 text decodes to, so bytes → string → bytes is exact. Node's fs encodes such a string
 * lossily: pass `fsPath` (a Buffer then) to fs instead.
 */

/** A lone low surrogate in the escape range (not the second half of a pair). */
const ESCAPE = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/;
const ESCAPES = new RegExp(ESCAPE.source, "g");

/** The name's bytes as a string: UTF-8 decoded, each byte of an invalid sequence escaped. */
export function decodeName(bytes: Buffer): string {
  if (isUtf8(bytes)) return bytes.toString("utf8");
  let out = "";
  for (let i = 0; i < bytes.length; ) {
    const n = sequenceLength(bytes, i);
    if (n === 0) {
      out += String.fromCharCode(0xdc00 + bytes[i]!);
      i++;
    } else {
      out += bytes.toString("utf8", i, i + n);
      i += n;
    }
  }
  return out;
}

/** The bytes `decodeName` read the string from. */
export function encodeName(name: string): Buffer {
  if (!ESCAPE.test(name)) return Buffer.from(name, "utf8");
  const parts: Buffer[] = [];
  let last = 0;
  for (const m of name.matchAll(ESCAPES)) {
    parts.push(Buffer.from(name.slice(last, m.index), "utf8"), Buffer.of(name.charCodeAt(m.index!) - 0xdc00));
    last = m.index! + 1;
  }
  parts.push(Buffer.from(name.slice(last), "utf8"));
  return Buffer.concat(parts);
}

/** True when the name (or path) holds bytes that are not UTF-8. */
export function hasRawBytes(name: string): boolean {
  return ESCAPE.test(name);
}

/** A path for fs calls: the exact bytes when it holds bytes that are not UTF-8 (escaped), else itself. */
export function osPath(path: string): string | Buffer {
  return hasRawBytes(path) ? encodeName(path) : path;
}

/** `base/rel` for fs calls: a string, or the exact bytes when `rel` holds bytes that are not UTF-8. */
export function fsPath(base: string, rel: string): string | Buffer {
  return hasRawBytes(rel) ? Buffer.concat([Buffer.from(`${base}/`, "utf8"), encodeName(rel)]) : `${base}/${rel}`;
}

/** A name for a message: raw bytes and control characters as `\xNN`, so a terminal shows them safely. */
export function printableName(name: string): string {
  return name.replace(/(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]|[\x00-\x1f\x7f]/g, (c) => {
    const code = c.charCodeAt(0);
    return `\\x${(code >= 0xdc00 ? code - 0xdc00 : code).toString(16).padStart(2, "0")}`;
  });
}

/** The length of a valid UTF-8 sequence at `i` (RFC 3629: no overlongs, surrogates or > U+10FFFF), else 0. */
function sequenceLength(b: Buffer, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c >= 0xe1 && c <= 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}
