import { createHash } from "node:crypto";
import type { RunsSide, SideFile } from "./side.js";

/**
 * How a file on the sending side relates to the same path on the receiving side:
 *  - `same`: identical;
 *  - `ahead`: the receiver's bytes are a prefix of the sender's (a log or output that grew, a
 *    manifest rewritten at finalize): a fast-forward;
 *  - `behind`: the sender's bytes are a prefix of the receiver's: the receiver is newer;
 *  - `diverged`: neither is a prefix of the other: a conflict.
 */
export type Relation = "same" | "ahead" | "behind" | "diverged";

/** Files up to this size are compared in memory; larger ones by hashing streamed prefixes. */
const IN_MEMORY = 8 * 1024 * 1024;

export interface CompareInput {
  sender: RunsSide;
  receiver: RunsSide;
  sent: SideFile;
  received: SideFile;
  /** SHA-256 of each side's file from its run manifest, when both manifests list it. */
  sentDigest?: string | undefined;
  receivedDigest?: string | undefined;
}

/**
 * Compares cheaply first: manifest digests (they are the files' SHA-256, docs/design.md §4), then size
 * and mtime where both sides keep mtimes (copy keeps them), and only then the bytes.
 */
export async function relate(c: CompareInput): Promise<Relation> {
  const { sent, received } = c;
  if (c.sentDigest !== undefined && c.receivedDigest !== undefined && sent.size === received.size) {
    return c.sentDigest === c.receivedDigest ? "same" : "diverged";
  }
  if (sent.size === received.size && sent.mtimeMs !== undefined && received.mtimeMs !== undefined && Math.abs(sent.mtimeMs - received.mtimeMs) < 1) {
    return "same";
  }
  const n = Math.min(sent.size, received.size);
  const [a, b] = await Promise.all([prefixDigest(c.sender, sent.key, n), prefixDigest(c.receiver, received.key, n)]);
  if (a !== b) return "diverged";
  return sent.size === received.size ? "same" : sent.size > received.size ? "ahead" : "behind";
}

async function prefixDigest(side: RunsSide, key: string, n: number): Promise<string> {
  const hash = createHash("sha256");
  if (n === 0) return hash.digest("hex");
  if (n <= IN_MEMORY) return hash.update(await side.readRange(key, 0, n)).digest("hex");
  const stream = await side.read(key);
  let left = n;
  try {
    for await (const chunk of stream) {
      const buf = chunk as Buffer;
      hash.update(buf.length > left ? buf.subarray(0, left) : buf);
      left -= Math.min(left, buf.length);
      if (left === 0) break;
    }
  } finally {
    stream.destroy();
  }
  return hash.digest("hex");
}

/** `path → sha256` from a run manifest's lines (`type sha256 path`). */
export function parseManifest(text: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (text === undefined) return out;
  for (const line of text.split("\n")) {
    const m = /^\S+ ([0-9a-f]{64}) (.+)$/.exec(line);
    if (m) out.set(m[2]!, m[1]!);
  }
  return out;
}
