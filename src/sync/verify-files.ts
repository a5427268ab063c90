import pLimit from "p-limit";
import { CorruptObjectError, type ObjectId, type ObjectReader } from "../objects/index.js";
import { corruptReason, type ChunkedFile, type Reachability } from "./verify-walk.js";

// `gage verify --read-data`, chunked files (verify.ts): each chunk is hashed on its own as packs
// are read; a file is also hashed whole, its chunks in order, as pull hashes it before writing it.
// Chunks may be sound and the list well formed while their bytes in order are not the file its
// tree records (a tampered list or tree): only the whole hash tells.

/**
 * Hashes every chunked file the walk reached whose chunk list `wanted` accepts (the packs a subset
 * reads), skipping files whose list or chunks have a finding already. A file whose chunks make
 * other bytes than its tree records is a finding on its chunk list.
 */
export async function checkWholeFiles(
  walk: Reachability,
  reader: ObjectReader,
  concurrency: number,
  wanted: (listPack: ObjectId) => boolean,
  onProgress?: (event: { items: number; bytes: number; total?: { items: number; bytes: number } }) => void,
): Promise<void> {
  const files = [...walk.chunkedFiles.values()].filter((f) => {
    const loc = reader.index.get(f.chunks);
    return loc !== undefined && wanted(loc.packId) && !walk.findings.has(f.chunks);
  });
  if (files.length === 0) return;
  onProgress?.({ items: 0, bytes: 0, total: { items: files.length, bytes: files.reduce((n, f) => n + f.size, 0) } });
  const limit = pLimit(concurrency);
  await Promise.all(files.map((f) => limit(() => checkOne(walk, reader, f, onProgress))));
}

async function checkOne(walk: Reachability, reader: ObjectReader, f: ChunkedFile, onProgress?: (event: { items: number; bytes: number }) => void): Promise<void> {
  const packOf = (id: ObjectId) => reader.index.get(id)?.packId;
  const note = (id: ObjectId, reason: string) => {
    const packId = packOf(id);
    walk.note(id, { kind: "object-damaged", ...(packId ? { packId } : {}), reason });
  };
  try {
    const list = await reader.chunkListOf(f);
    // A chunk already found missing or damaged is reported; the whole cannot be hashed.
    if (list.chunks.some((c) => walk.findings.has(c.id))) return;
    let bytes = 0;
    for await (const piece of reader.readFile(f)) {
      bytes += piece.length;
      onProgress?.({ items: 0, bytes: piece.length });
    }
    if (bytes !== f.size) note(f.chunks, `the file its chunks make is ${bytes} bytes, its tree records ${f.size}`);
  } catch (err) {
    if (err instanceof CorruptObjectError) {
      if (err.id === f.id) note(f.chunks, `the file its chunks make hashes to ${err.actual ?? "other bytes"}, its tree records ${f.id}`);
      else if (!walk.findings.has(err.id)) note(err.id, corruptReason(err));
    } else if ((err as { code?: unknown }).code !== "NOT_FOUND") throw err;
  }
  onProgress?.({ items: 1, bytes: 0 });
}
