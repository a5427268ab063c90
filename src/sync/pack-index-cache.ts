import { appendFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { loadPackIndexKept, type ObjectId, type PackIndex, type WrittenPack } from "../objects/index.js";
import { packIndexCachePath, readStateFile, writeStateFile } from "./local-state.js";
import type { Session } from "./session.js";

/**
 * A remote's pack index files, kept in the runs directory (`.gage-sync/remotes/<hash>.packs`): a
 * push or pull reads only the index files of packs written since, not one per pack (a GET each on
 * S3, and a remote gains a pack with every push until gc repacks).
 *
 * File: records [pack id 32 bytes][u32 LE length][index file], appended as packs appear, and
 * written anew without the packs gone once those are half of it. Each index file carries its own
 * checksum, checked as it is used: a damaged or torn record is read from the remote again.
 */
export async function loadRemotePackIndex(s: Session): Promise<PackIndex> {
  const path = packIndexCachePath(s.runsDir, s.remote.url);
  const kept = readKept(path);
  const { index, files } = await loadPackIndexKept(s.remote.storage, kept);
  // A command run where no runs directory is (ls --remote) keeps nothing.
  if (!existsSync(s.runsDir)) return index;
  const fresh = [...files].filter(([packId]) => !kept.has(packId));
  const gone = [...kept.keys()].filter((packId) => !files.has(packId)).length;
  if (gone > files.size) await writeStateFile(path, encodeRecords(files));
  else if (fresh.length > 0) {
    if (kept.size === 0) await writeStateFile(path, encodeRecords(files));
    else appendFileSync(path, encodeRecords(new Map(fresh)));
  }
  return index;
}

function encodeRecords(files: ReadonlyMap<ObjectId, Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [packId, bytes] of files) {
    const head = Buffer.alloc(36);
    head.write(packId, 0, 32, "hex");
    head.writeUInt32LE(bytes.length, 32);
    parts.push(head, bytes);
  }
  return Buffer.concat(parts);
}

function readKept(path: string): Map<ObjectId, Buffer> {
  const kept = new Map<ObjectId, Buffer>();
  const bytes = readStateFile(path) ?? Buffer.alloc(0);
  for (let p = 0; p + 36 <= bytes.length; ) {
    const end = p + 36 + bytes.readUInt32LE(p + 32);
    if (end > bytes.length) break;
    kept.set(bytes.toString("hex", p, p + 32), bytes.subarray(p + 36, end));
    p = end;
  }
  return kept;
}

/** Keeps the index files of packs this command wrote, so the next one need not read them back. */
export function keepWrittenIndexes(s: Session, packs: readonly WrittenPack[]): void {
  if (packs.length === 0 || !existsSync(s.runsDir)) return;
  const path = packIndexCachePath(s.runsDir, s.remote.url);
  mkdirSync(dirname(path), { recursive: true });
  appendFileSync(path, encodeRecords(new Map(packs.map((p) => [p.packId, p.indexBytes]))));
}
