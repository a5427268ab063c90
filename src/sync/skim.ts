import { Packr } from "msgpackr/pack";
import { checkEntry, isStoreRunId, type HeadEntry } from "./head-entry.js";
import { hashBytes } from "../objects/index.js";
import { StoreFormatError } from "./errors.js";
import type { RawRun } from "./lazy-runs.js";
import { containerAt, skipValue, stringAt } from "./msgpack-spans.js";
import { SEGMENT_KEY_RE } from "./segment-table.js";

const packr = new Packr({ useRecords: false, variableMapSize: true });

/** `heads/<12 hex ms>-<64 hex>` and `catalog/…` alike: the time, then the SHA-256 of the bytes. */
export const HEAD_KEY_RE = /^(?:heads|catalog)\/([0-9a-f]{12})-([0-9a-f]{64})$/;

/** Checks that `bytes` hash to the SHA-256 their head, catalog or segment key names. */
export function verifyKey(key: string, bytes: Uint8Array): void {
  const m = HEAD_KEY_RE.exec(key);
  const hash = m ? m[2] : SEGMENT_KEY_RE.exec(key)?.[1];
  if (hash === undefined) throw new StoreFormatError(key, `Not a head, catalog or segment key: ${key}`);
  const actual = hashBytes(bytes);
  if (actual !== hash) throw new StoreFormatError(key, `${key} is corrupt: its bytes hash to ${actual}`, { hint: "Push the affected runs again from a good copy." });
}

/** A head or catalog as `skimStoreDoc` reads it: each run's entries found, none decoded. */
export interface SkimmedDoc {
  /** A catalog's `covers` and `recent` (a head has neither). */
  covers?: string;
  recent?: string[];
  runs: Map<string, RawRun>;
  /** Entries of runs whose entries are not next to each other (another writer's order): decoded. */
  scattered: HeadEntry[];
}

/** The `v` field of a head or catalog's top map, read without walking the rest; undefined when unreadable. */
export function docVersion(bytes: Buffer): unknown {
  try {
    const top = containerAt(bytes, 0);
    if (top?.kind !== "map") return undefined;
    let p = top.body;
    for (let i = 0; i < top.count; i++) {
      const name = stringAt(bytes, p);
      if (name === undefined) return undefined;
      const end = skipValue(bytes, name.end);
      if (name.value === "v") return packr.unpack(bytes.subarray(name.end, end));
      p = end;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/**
 * Reads a head, catalog of format 1 or catalog segment (docs/formats.md) verified against its key, finding where each run's
 * entries are without decoding them (a reader that already holds them, or needs a few, decodes
 * none or those). Each run id is checked here; the rest of an entry when it is decoded
 * (`checkEntry`).
 */
export function skimStoreDoc(key: string, bytes: Buffer): SkimmedDoc {
  verifyKey(key, bytes);
  const catalog = key.startsWith("catalog/");
  const segment = key.startsWith("segments/");
  const unknown = (): never => {
    throw new StoreFormatError(key, `${catalog ? "Catalog" : segment ? "Catalog segment" : "Head"} ${key} has an unknown format`);
  };
  const malformed = (why: string): never => {
    throw new StoreFormatError(key, `${key} holds a malformed run entry: ${why}`, { hint: "Push the affected runs again from a good copy." });
  };
  try {
    const top = containerAt(bytes, 0);
    if (top?.kind !== "map") return unknown();
    const fields: Record<string, unknown> = {};
    let entries: { p: number; count: number } | undefined;
    let p = top.body;
    for (let i = 0; i < top.count; i++) {
      const name = stringAt(bytes, p);
      if (name === undefined) return unknown();
      const end = skipValue(bytes, name.end);
      if (name.value === "entries") {
        const list = containerAt(bytes, name.end);
        if (list?.kind !== "array") return unknown();
        entries = { p: list.body, count: list.count };
      } else if (name.value === "v" || name.value === "covers" || name.value === "recent") fields[name.value] = packr.unpack(bytes.subarray(name.end, end));
      p = end;
    }
    if (fields.v !== (segment ? 2 : 1) || entries === undefined || (catalog && (typeof fields.covers !== "string" || !Array.isArray(fields.recent)))) return unknown();
    const runs = new Map<string, RawRun>();
    const scattered: HeadEntry[] = [];
    let last: RawRun | undefined;
    let lastId = "";
    p = entries.p;
    for (let i = 0; i < entries.count; i++) {
      const end = skipValue(bytes, p);
      const id = entryRunId(bytes, p);
      if (id === undefined || !isStoreRunId(id)) malformed(`run id ${JSON.stringify(id)}`);
      if (id === lastId) {
        last!.end = end;
        last!.n++;
      } else if (runs.has(id!)) {
        scattered.push(checkEntry(key, packr.unpack(bytes.subarray(p, end))));
      } else {
        runs.set(id!, (last = { b: bytes, p, end, n: 1, from: key }));
        lastId = id!;
      }
      p = end;
    }
    for (const e of scattered) {
      const raw = runs.get(e.runId);
      if (raw === undefined) continue;
      runs.delete(e.runId);
      for (const d of packr.unpackMultiple(bytes.subarray(raw.p, raw.end)) as unknown[]) scattered.push(checkEntry(key, d));
    }
    if (!catalog) return { runs, scattered };
    return { covers: fields.covers as string, recent: (fields.recent as unknown[]).filter((k): k is string => typeof k === "string"), runs, scattered };
  } catch (err) {
    if (err instanceof StoreFormatError) throw err;
    throw new StoreFormatError(key, `${key} cannot be decoded: ${(err as Error).message}`, { cause: err });
  }
}

/** The `runId` of the entry map at `p`, without decoding the rest. */
function entryRunId(b: Buffer, p: number): string | undefined {
  const map = containerAt(b, p);
  if (map?.kind !== "map") return undefined;
  let at = map.body;
  for (let i = 0; i < map.count; i++) {
    const name = stringAt(b, at);
    if (name === undefined) return undefined;
    if (name.value === "runId") return stringAt(b, name.end)?.value;
    at = skipValue(b, name.end);
  }
  return undefined;
}

