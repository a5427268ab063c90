// Deterministic randomness for generated corpora: every value is a pure function of its seed
// parts, so a corpus made twice (or by an older build of this generator) is byte for byte the same.
import { createCipheriv, createHash } from "node:crypto";

const TWO_32 = 2 ** 32;

/** sfc32, seeded from the SHA-256 of the parts joined by "/", past its first 12 draws. */
export class SeededRandom {
  #state = new Uint32Array(4);

  constructor(...parts) {
    const seed = createHash("sha256").update(parts.join("/")).digest();
    for (let i = 0; i < 4; i++) this.#state[i] = seed.readUInt32LE(i * 4);
    for (let i = 0; i < 12; i++) this.uint32();
  }

  /** The next 32 random bits (the Uint32Array keeps every step modulo 2^32). */
  uint32() {
    const s = this.#state;
    const [a, b, c, d] = s;
    s[0] = b ^ (b >>> 9);
    s[1] = c + (c << 3);
    s[3] = d + 1;
    const out = (a + b + s[3]) >>> 0;
    s[2] = ((c << 21) | (c >>> 11)) + out;
    return out;
  }

  /** A number in [0, 1). */
  next() {
    return this.uint32() / TWO_32;
  }

  /** An integer from lo to hi, both included. */
  int(lo, hi) {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  pick(choices) {
    return choices[Math.floor(this.next() * choices.length)];
  }

  /** `length` lower-case hex digits, eight per draw. */
  hex(length) {
    let out = "";
    while (out.length < length) out += this.uint32().toString(16).padStart(8, "0");
    return out.slice(0, length);
  }
}

/** Random bytes on demand: the AES-128-CTR keystream keyed by the parts (fast, and positional). */
export function keystream(...parts) {
  const key = createHash("sha256").update(`ks/${parts.join("/")}`).digest();
  const cipher = createCipheriv("aes-128-ctr", key.subarray(0, 16), key.subarray(16, 32));
  return (length) => cipher.update(Buffer.alloc(length));
}

/** 32 hex digits as a version-4 UUID (version nibble 4, variant bits 10). */
function asUuid4(hex32) {
  const variant = "89ab"[parseInt(hex32[16], 16) & 3];
  const h = `${hex32.slice(0, 12)}4${hex32.slice(13, 16)}${variant}${hex32.slice(17, 32)}`;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A run id, as Gage's `uuid4()` looks. */
export function randomRunId(random) {
  return asUuid4(random.hex(32));
}

/** A user log entry's name: a ULID (48-bit millisecond time, then random bits) in UUID form. */
export function logEntryId(random, ms) {
  return asUuid4(ms.toString(16).padStart(12, "0") + random.hex(20));
}
