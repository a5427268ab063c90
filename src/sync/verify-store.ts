import pLimit from "p-limit";
import { checkIndexName, decodePackIndex, type PackIndexEntry } from "../objects/pack.js";
import { GageError } from "../errors.js";
import { ObjectReader, PackIndex, PACK_PREFIX, packKey, parsePackIndexKey, readPackIndexBytes, type ObjectId } from "../objects/index.js";
import type { Storage } from "../remotes/storage.js";
import { CATALOG_PREFIX, decodeHead, readCatalog, emptyView, HEAD_PREFIX, keyTime, noteHead, SKEW_MARGIN_MS, type CatalogDoc, type HeadEntry, type RemoteView } from "./heads.js";
import { EMPTY_TREE } from "./merge.js";
import { GARBAGE_PREFIX, keysOf, packFileId, parseGarbageKey } from "./gc-keys.js";
import { remoteRunsOf, selectWithSpecs } from "./remote-runs.js";
import { emptyCounts, statusOf, type PackSubset, type VerifyOptions, type VerifyProblem, type VerifyResult } from "./verify-result.js";
import { planAll, planData, readData } from "./verify-data.js";
import { checkWholeFiles } from "./verify-files.js";
import { groupFindings, type PackFacts } from "./verify-problems.js";
import { locationProblem, Reachability, type PreRead } from "./verify-walk.js";

// `gage verify` of a store remote (verify.ts says what is checked): heads and catalogs first,
// then the pack listing and every index, then what the runs reach, then (read-data) their bytes.

const RESTORE_HINT = "Restore it from a backup of the remote; else push the runs it held again from their copies into a new remote.";

type StoreOptions = Omit<VerifyOptions, "remote" | "readDataSubset" | "local"> & { readData: boolean; subset: PackSubset | undefined };

const isNotFound = (err: unknown) => (err as { code?: unknown }).code === "NOT_FOUND";

/** What is wrong with a head or catalog that failed to decode, starting with its key. */
function decodeFailure(key: string, err: unknown): string {
  const msg = (err as Error).message;
  return msg.startsWith(`${key} `) ? msg : `${key} is damaged: ${msg}`;
}

/**
 * Reads every head and catalog (each verified against its name), and merges them as a reader
 * does: the newest sound catalog, then the heads listed since. A damaged one is a problem, and the
 * check goes on without it.
 */
async function readView(storage: Storage, problems: VerifyProblem[], concurrency: number): Promise<{ view: RemoteView; heads: number; catalogs: number }> {
  const limit = pLimit(concurrency);
  const catalogKeys = (await keysOf(storage, CATALOG_PREFIX)).map((e) => e.key).filter((k) => keyTime(k) !== undefined);
  const headKeys = (await keysOf(storage, HEAD_PREFIX)).map((e) => e.key).filter((k) => keyTime(k) !== undefined);
  const damaged = (kind: "head-damaged" | "catalog-damaged", key: string, err: unknown) =>
    problems.push({
      severity: "damaged",
      kind,
      where: key,
      message: `${decodeFailure(key, err)}; commands that read it (gc reads them all) stop on it`,
      runs: [],
      hint: RESTORE_HINT,
    });
  let newest: { key: string; doc: CatalogDoc } | undefined;
  await Promise.all(
    catalogKeys.map((key) =>
      limit(async () => {
        try {
          const doc = await readCatalog(storage, key);
          if (newest === undefined || key > newest.key) newest = { key, doc };
        } catch (err) {
          if (isNotFound(err)) return;
          if (!(err instanceof GageError)) throw err;
          damaged("catalog-damaged", key, err);
        }
      }),
    ),
  );
  const heads = new Map<string, HeadEntry[]>();
  await Promise.all(
    headKeys.map((key) =>
      limit(async () => {
        try {
          heads.set(key, decodeHead(key, await storage.getBytes(key)));
        } catch (err) {
          if (isNotFound(err)) return;
          if (!(err instanceof GageError)) throw err;
          damaged("head-damaged", key, err);
        }
      }),
    ),
  );
  const view = emptyView();
  if (newest !== undefined) {
    noteHead(view, newest.doc.covers, newest.doc.entries);
    for (const k of newest.doc.recent) noteHead(view, k, []);
    view.catalogKey = newest.key;
  }
  const floor = view.newest === undefined ? 0 : keyTime(view.newest)! - SKEW_MARGIN_MS;
  const inCatalog = new Set(view.recent);
  for (const key of [...heads.keys()].sort()) {
    if (!inCatalog.has(key) && keyTime(key)! >= floor) noteHead(view, key, heads.get(key)!);
  }
  return { view, heads: headKeys.length, catalogs: catalogKeys.length };
}

interface Packs extends PackFacts {
  index: PackIndex;
  /** Each index's entries, when every pack is to be read whole (`readAll`). */
  entries: Map<ObjectId, PackIndexEntry[]>;
}

// Trees and chunk lists kept from reading every pack, for the walk: beyond this it reads them again.
const CACHE_BYTES = 128 * 1024 * 1024;
// msgpack arrays of 3 (tree) or 4 (chunk list) fields: anything else is file data.
const STRUCTURE_PREFIXES = new Set([0x93, 0x94]);
const MAX_STRUCTURE_BYTES = 4 * 1024 * 1024;

/** Lists the packs, reads and checks every index; packs and indexes without each other are problems. */
async function readPacks(storage: Storage, problems: VerifyProblem[], opts: StoreOptions, readAll: boolean): Promise<Packs> {
  const sizes = new Map<ObjectId, number>();
  const indexKeys: { key: string; packId: ObjectId }[] = [];
  for (const { key, size } of await keysOf(storage, PACK_PREFIX)) {
    const pack = packFileId(key);
    if (pack !== undefined) sizes.set(pack, size);
    const index = parsePackIndexKey(key);
    if (index) indexKeys.push({ key, packId: index.packId });
  }
  const setAside = new Set<ObjectId>();
  for (const { key } of await keysOf(storage, GARBAGE_PREFIX)) {
    const r = parseGarbageKey(key);
    if (r) setAside.add(r.packId);
  }
  const index = new PackIndex();
  const listed = new Map<ObjectId, number>();
  const outside = new Map<ObjectId, { count: number; reason: string }>();
  const all = new Map<ObjectId, PackIndexEntry[]>();
  const limit = pLimit(opts.concurrency ?? 4);
  opts.onProgress?.({ phase: "index", items: 0, bytes: 0, total: { items: indexKeys.length, bytes: 0 } });
  await Promise.all(
    indexKeys.map(({ key, packId }) =>
      limit(async () => {
        let bytes: Buffer;
        try {
          bytes = await readPackIndexBytes(storage, key);
        } catch (err) {
          if (isNotFound(err)) return;
          throw err;
        }
        try {
          checkIndexName(key, bytes);
          const entries = decodePackIndex(packId, bytes);
          listed.set(packId, entries.length);
          if (readAll) all.set(packId, entries);
          index.addIndex(packId, bytes, key);
          if (sizes.has(packId)) {
            for (const e of entries) {
              const bad = locationProblem({ packId, ...e }, sizes);
              if (bad?.kind !== "entry-outside-pack") continue;
              const o = outside.get(packId);
              if (o === undefined) outside.set(packId, { count: 1, reason: bad.reason });
              else o.count++;
            }
          }
        } catch (err) {
          if (!(err instanceof GageError)) throw err;
          problems.push({
            severity: "damaged",
            kind: "index-damaged",
            where: key,
            message: `${key} is damaged (${err.message.replace(/^Malformed pack index \S+: /, "")}): the objects it lists cannot be found`,
            runs: [],
            hint: `Restore it from a backup of the remote (runs that need its objects are reported as missing objects).`,
          });
        }
        opts.onProgress?.({ phase: "index", items: 1, bytes: bytes.length });
      }),
    ),
  );
  const indexed = new Set(indexKeys.map((k) => k.packId));
  for (const [packId, size] of sizes) {
    if (indexed.has(packId) || setAside.has(packId)) continue;
    problems.push({
      severity: "notice",
      kind: "pack-without-index",
      where: packKey(packId),
      message: `${packKey(packId)} (${size} bytes) has no index: an interrupted push left it, or its index was lost`,
      runs: [],
      hint: "If runs lack objects, restore its index from a backup; else 'gage gc' removes it once it is older than the grace period.",
    });
  }
  return { index, sizes, listed, outside, entries: all };
}

/** Checks a store remote; see verify.ts. Never writes to it. */
export async function verifyStore(storage: Storage, url: string, opts: StoreOptions): Promise<VerifyResult> {
  const problems: VerifyProblem[] = [];
  const counts = emptyCounts();
  const concurrency = opts.concurrency ?? 4;
  const { view, heads, catalogs } = await readView(storage, problems, concurrency);
  counts.heads = heads;
  counts.catalogs = catalogs;
  const selected = selectWithSpecs(remoteRunsOf(view, opts.runsDir, opts.onWarning), opts.runs, undefined).map((x) => x.run);
  counts.runs = selected.length;

  // Reading every object, each pack is read whole once, first: the walk then finds the trees it
  // needs in memory instead of reading them again, a request each.
  const readAll = opts.readData && opts.subset === undefined;
  const packs = await readPacks(storage, problems, opts, readAll);
  counts.packs = packs.sizes.size;
  let pre: PreRead | undefined;
  if (readAll) {
    const plan = planAll(packs.entries, packs.sizes);
    packs.entries.clear();
    opts.onProgress?.({ phase: "data", items: 0, bytes: 0, total: { items: plan.objects, bytes: plan.bytes } });
    const cache = new Map<ObjectId, Buffer>();
    let cached = 0;
    const keep = (id: ObjectId, data: Buffer) => {
      if (!STRUCTURE_PREFIXES.has(data[0]!) || data.length > MAX_STRUCTURE_BYTES || cached + data.length > CACHE_BYTES) return;
      cache.set(id, Buffer.from(data));
      cached += data.length;
    };
    const findings = await readData(storage, plan, concurrency, (items, bytes) => opts.onProgress?.({ phase: "data", items, bytes }), keep);
    pre = { cache, findings };
    counts.readObjects = plan.objects;
    counts.readBytes = plan.bytes;
  }
  const reader = new ObjectReader(storage, packs.index);
  const walk = new Reachability({ reader, sizes: packs.sizes }, pre);
  for (const run of selected) {
    for (const e of run.entries) {
      for (const tree of [e.run.tree, e.meta.tree]) if (tree !== EMPTY_TREE) walk.addRoot(tree, run.id);
    }
  }
  // Tree reads are small: twice as many in flight hide their latency.
  await walk.walk(concurrency * 2, (items, bytes) => opts.onProgress?.({ phase: "structure", items, bytes }));
  // A version's times object is a hint (docs/formats.md): reached when an index lists it, never missing.
  for (const run of selected) {
    for (const e of run.entries) for (const id of [e.times?.run, e.times?.meta]) if (id !== undefined && packs.index.get(id) !== undefined) walk.reached.add(id);
  }
  counts.objects = walk.reached.size;

  let subset: VerifyResult["subset"];
  if (opts.subset !== undefined) {
    const plan = planData([...walk.reached].filter((id) => !walk.findings.has(id)), packs.index, opts.subset);
    subset = { part: opts.subset.part, packs: plan.packs.size, of: plan.of };
    opts.onProgress?.({ phase: "data", items: 0, bytes: 0, total: { items: plan.objects, bytes: plan.bytes } });
    const late = await readData(storage, plan, concurrency, (items, bytes) => opts.onProgress?.({ phase: "data", items, bytes }));
    for (const [id, f] of late) walk.note(id, f);
    await walk.linkLate(new Set(late.keys()), concurrency);
    counts.readObjects = plan.objects;
    counts.readBytes = plan.bytes;
  }
  if (opts.readData) {
    const subsetHas = opts.subset === undefined ? () => true : (packId: ObjectId) => opts.subset!.has(packId);
    await checkWholeFiles(walk, reader, concurrency, subsetHas, (e) => opts.onProgress?.({ phase: "files", ...e }));
  }
  problems.push(...groupFindings(walk, packs));
  return { target: url, mode: opts.readData ? "read-data" : "structure", ...(subset ? { subset } : {}), counts, problems, status: statusOf(problems) };
}
