import { appendFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { loadPackIndexKept, packIndexKey, parsePackIndexKey, type PackIndex, type WrittenPack } from "../objects/index.js";
import { packIndexCachePath, readStateFile, writeStateFile } from "./local-state.js";
import type { Session } from "./session.js";

/**
 * A remote's pack index files, kept in the runs directory (`.gage-sync/remotes/<hash>.packs`): a
 * push or pull reads only the index files written since, not one per pack (a GET each on S3, and
 * a remote gains a pack with every push until gc repacks).
 *
 * File: records [pack id 32 bytes][u32 LE length][index file], appended as packs appear, and
 * written anew without the indexes gone once those are half of it. A record stands for the key
 * `packIndexKey(pack id, index file)`, and is used only while the remote lists that key: a key
 * names one content, so a copy cannot be stale (docs/formats.md). Each index file carries its own
 * checksum, checked as it is used: a damaged or torn record is read from the remote again.
 */
export async function loadRemotePackIndex(s: Session): Promise<PackIndex> {
  const path = packIndexCachePath(s.runsDir, s.remote.url);
  const kept = readKept(path);
  const { index, files } = await loadPackIndexKept(s.remote.storage, kept);
  // A command run where no runs directory is (ls --remote) keeps nothing.
  if (!existsSync(s.runsDir)) return index;
  const fresh = [...files].filter(([key]) => !kept.has(key));
  const gone = [...kept.keys()].filter((key) => !files.has(key)).length;
  if (gone > files.size) await writeStateFile(path, encodeRecords(files));
  else if (fresh.length > 0) {
    if (kept.size === 0) await writeStateFile(path, encodeRecords(files));
    else appendFileSync(path, encodeRecords(new Map(fresh)));
  }
  return index;
}

function encodeRecords(files: ReadonlyMap<string, Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, bytes] of files) {
    const packId = parsePackIndexKey(key)!.packId;
    const head = Buffer.alloc(36);
    head.write(packId, 0, 32, "hex");
    head.writeUInt32LE(bytes.length, 32);
    parts.push(head, bytes);
  }
  return Buffer.concat(parts);
}

function readKept(path: string): Map<string, Buffer> {
  const kept = new Map<string, Buffer>();
  const bytes = readStateFile(path) ?? Buffer.alloc(0);
  for (let p = 0; p + 36 <= bytes.length; ) {
    const end = p + 36 + bytes.readUInt32LE(p + 32);
    if (end > bytes.length) break;
    const file = bytes.subarray(p + 36, end);
    if (file.length >= 32) kept.set(packIndexKey(bytes.toString("hex", p, p + 32), file), file);
    p = end;
  }
  return kept;
}

/** Keeps the index files of packs this command wrote, so the next one need not read them back. */
export function keepWrittenIndexes(s: Session, packs: readonly WrittenPack[]): void {
  if (packs.length === 0 || !existsSync(s.runsDir)) return;
  const path = packIndexCachePath(s.runsDir, s.remote.url);
  mkdirSync(dirname(path), { recursive: true });
  appendFileSync(path, encodeRecords(new Map(packs.map((p) => [p.indexKey, p.indexBytes]))));
}
