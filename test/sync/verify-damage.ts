/**
 * Damage done to a real store through its `Storage` (so the same harm works on a folder, s3rver,
 * RGW or SFTP), as a failing disk, a careless hand or a hostile writer would: flip a byte of an
 * object, truncate or delete a pack, drop an index, spoil a head.
 */
import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { packKey, parsePackIndexKey } from "../../src/objects/index.js";
import { decodePackIndex } from "../../src/objects/pack.js";
import type { Storage } from "../../src/remotes/storage.js";
import { runPaths } from "../../src/runs/layout.js";

export async function keysUnder(storage: Storage, prefix: string): Promise<{ key: string; size: number }[]> {
  const out: { key: string; size: number }[] = [];
  for await (const e of storage.list(prefix)) out.push(e);
  return out;
}

/** Every key with the SHA-256 of its bytes: compared before and after, it shows nothing changed. */
export async function fingerprint(storage: Storage): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const { key } of await keysUnder(storage, "")) out.set(key, createHash("sha256").update(await storage.getBytes(key)).digest("hex"));
  return out;
}

export async function packIds(storage: Storage): Promise<string[]> {
  return (await keysUnder(storage, "packs/")).flatMap(({ key }) => /^packs\/([0-9a-f]{64})\.pack$/.exec(key)?.[1] ?? []);
}

/** The key of pack `packId`'s index as the store lists it now (its name carries its checksum). */
export async function indexKeyOf(storage: Storage, packId: string): Promise<string> {
  const key = (await keysUnder(storage, "packs/")).map((k) => k.key).find((k) => parsePackIndexKey(k)?.packId === packId);
  if (key === undefined) throw new Error(`no index of pack ${packId}`);
  return key;
}

/** Where the store keeps object `id`: its pack and the index entry. */
export async function locate(storage: Storage, id: string): Promise<{ packId: string; offset: number; storedLength: number }> {
  for (const packId of await packIds(storage)) {
    const entry = decodePackIndex(packId, await storage.getBytes(await indexKeyOf(storage, packId))).find((e) => e.id === id);
    if (entry) return { packId, offset: entry.offset, storedLength: entry.storedLength };
  }
  throw new Error(`no index lists ${id}`);
}

export async function flipByte(storage: Storage, key: string, offset: number): Promise<void> {
  const bytes = Buffer.from(await storage.getBytes(key));
  bytes[offset] = bytes[offset]! ^ 0xff;
  await storage.put(key, bytes);
}

/** Flips a byte in the middle of object `id`'s stored bytes; returns its pack. */
export async function damageObject(storage: Storage, id: string): Promise<string> {
  const loc = await locate(storage, id);
  await flipByte(storage, packKey(loc.packId), loc.offset + Math.floor(loc.storedLength / 2));
  return loc.packId;
}

export async function truncateKey(storage: Storage, key: string, length: number): Promise<void> {
  await storage.put(key, Buffer.from((await storage.getBytes(key)).subarray(0, length)));
}

/** A run's manifest: path → SHA-256 (the id of the file's object). */
export function manifestOf(runsDir: string, runId: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync(join(runPaths(runsDir, runId).metaDir, "manifest"), "utf8").split("\n")) {
    const m = /^\S ([0-9a-f]{64}) (.+)$/.exec(line);
    if (m) out.set(m[2]!, m[1]!);
  }
  return out;
}

/** The runs among `runIds` whose manifest lists a file with this digest. */
export function runsHolding(runsDir: string, runIds: readonly string[], digest: string): string[] {
  return runIds.filter((id) => [...manifestOf(runsDir, id).values()].includes(digest)).sort();
}

/** Every path under `dir` with its mode and mtime, and its bytes' SHA-256 for files. */
export function fingerprintDir(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const p = rel === "" ? name : `${rel}/${name}`;
      const st = lstatSync(join(dir, p));
      const data = st.isFile() ? createHash("sha256").update(readFileSync(join(dir, p))).digest("hex") : "";
      out.set(p, `${st.mode} ${st.mtimeMs} ${data}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk("");
  return out;
}
