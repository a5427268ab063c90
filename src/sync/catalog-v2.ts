import { Packr } from "msgpackr/pack";
import { hashBytes } from "../objects/index.js";
import { StoreFormatError } from "./errors.js";
import type { RunSummary } from "./head-entry.js";
import { packEntries, type LazyRuns } from "./lazy-runs.js";
import { arrayHeader } from "./msgpack-spans.js";
import { checkSegmentRefs, idAt, idBytes, idTable, SEGMENT_KEY_RE, SEGMENT_PREFIX, SegmentTable, type SegmentRef, type TableSegment } from "./segment-table.js";
import { verifyKey } from "./skim.js";

/**
 * Catalogs of format 2 (docs/formats.md, Catalogs): a small root naming segments, each a run-id
 * range of the runs' merged entries. A reader fetches the root; the segments of the runs it
 * touches; never the whole remote.
 */

const packr = new Packr({ useRecords: false, variableMapSize: true });

/** Runs per segment a writer aims at (a segment is split at twice this, merged below a quarter). */
export const SEGMENT_RUNS = 2048;
/** How many of the newest runs (as `ls` orders them) a root lists, with their times. */
export const NEWEST_RUNS = 256;
/** A segment's size beyond which it is damaged or hostile. */
export const MAX_SEGMENT_BYTES = 64 * 1024 * 1024;

/** The segment size to write: `GAGE_CATALOG_SEGMENT_RUNS` (tests make many small segments), else `SEGMENT_RUNS`. */
export function segmentRuns(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.GAGE_CATALOG_SEGMENT_RUNS);
  return Number.isInteger(n) && n >= 1 ? n : SEGMENT_RUNS;
}

/**
 * The newest runs of a catalog, newest first (`ls` order): ids and their times (µs, or null), and
 * the segment that holds them (a copy of their entries, in id order: a first page needs no other).
 */
export interface NewestRuns {
  ids: string[];
  t: (number | null)[];
  key?: string;
}

/** The segment of the newest runs as its root names it (ids sorted), when it names one. */
export function newestSegment(newest: NewestRuns): SegmentRef | undefined {
  return newest.key === undefined ? undefined : { key: newest.key, n: newest.ids.length, ids: idTable([...newest.ids].sort()) };
}

export interface CatalogRoot {
  covers: string;
  recent: string[];
  count: number;
  segments: SegmentRef[];
  newest: NewestRuns;
}

/** A run's time as listings sort by it (`runTimestamp`): started, else staged, else initialized. */
export function summaryTime(s: RunSummary | undefined): number | undefined {
  return s?.started ?? s?.staged ?? s?.initialized;
}

/** `ls` order: newest first, runs with no time last, ties by id. */
export function newerFirst(a: { id: string; t: number | undefined | null }, b: { id: string; t: number | undefined | null }): number {
  const ta = a.t ?? -Infinity;
  const tb = b.t ?? -Infinity;
  return tb - ta || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Decodes and checks a format 2 root: every count and table is held to what its bytes say. */
export function decodeCatalogRoot(key: string, bytes: Uint8Array): CatalogRoot {
  verifyKey(key, bytes);
  const bad = (why: string): never => {
    throw new StoreFormatError(key, `Catalog ${key} is malformed: ${why}`, { hint: "Remove it (an older catalog or the heads still hold the runs), then push again." });
  };
  let doc: Record<string, unknown>;
  try {
    doc = packr.unpack(bytes) as Record<string, unknown>;
  } catch (err) {
    throw new StoreFormatError(key, `${key} cannot be decoded: ${(err as Error).message}`, { cause: err });
  }
  if (typeof doc !== "object" || doc === null || doc.v !== 2) return bad("not a format 2 catalog");
  const { covers, recent, count, segments, newest } = doc;
  if (typeof covers !== "string" || !Array.isArray(recent) || !Array.isArray(segments)) return bad("fields missing");
  if (!Number.isInteger(count) || (count as number) < 0) return bad("count is not a whole number");
  const refs = checkSegmentRefs(segments);
  if (typeof refs === "string") return bad(refs);
  const total = refs.reduce((sum, s) => sum + s.n, 0);
  if (total !== count) return bad(`count ${String(count)} where its segments list ${total} runs`);
  const nw = (newest ?? {}) as Record<string, unknown>;
  if (!(nw.ids instanceof Uint8Array) || !Array.isArray(nw.t) || nw.ids.length !== nw.t.length * 16 || nw.t.length > total) return bad("its table of newest runs is malformed");
  if (nw.key !== undefined && (typeof nw.key !== "string" || !SEGMENT_KEY_RE.test(nw.key) || nw.t.length === 0)) return bad(`its newest runs' segment key ${JSON.stringify(nw.key)}`);
  const newIds = Buffer.from(nw.ids.buffer, nw.ids.byteOffset, nw.ids.length);
  const table = new SegmentTable(refs);
  const out: NewestRuns = { ids: [], t: [], ...(typeof nw.key === "string" ? { key: nw.key } : {}) };
  for (let i = 0; i < nw.t.length; i++) {
    const t = nw.t[i] as unknown;
    if (t !== null && (typeof t !== "number" || !Number.isFinite(t))) return bad("a time of its newest runs is not a number");
    const id = idAt(newIds, i);
    if (table.find(id) === undefined) return bad(`its newest runs name ${id}, which no segment lists`);
    if (out.ids.includes(id)) return bad(`its newest runs name ${id} twice`);
    out.ids.push(id);
    out.t.push(t);
  }
  return { covers, recent: recent.filter((k): k is string => typeof k === "string"), count: total, segments: refs, newest: out };
}

export function encodeCatalogRoot(root: CatalogRoot): Buffer {
  const segments = root.segments.map((s) => ({ key: s.key, n: s.n, ids: s.ids }));
  return Buffer.from(packr.pack({ v: 2, covers: root.covers, recent: root.recent, count: root.count, segments, newest: { ids: idTable(root.newest.ids), t: root.newest.t, ...(root.newest.key === undefined ? {} : { key: root.newest.key }) } }));
}

/** One run as a writer copies it: the bytes of its consecutive entry maps. */
interface RunBytes {
  id: string;
  bytes: Buffer;
  n: number;
}

/**
 * Groups runs (sorted by id) into segments, keeping the previous root's ranges where it can: a
 * range that gained no run and lost none gives the same bytes, hence the same key, and is not
 * written again. A range grown past twice `target` is split; one below a quarter joins the next.
 */
export function cutSegments(runs: readonly RunBytes[], previous: readonly TableSegment[], target: number): RunBytes[][] {
  const groups: RunBytes[][] = [];
  let bound = 1;
  let group: RunBytes[] = [];
  for (const run of runs) {
    while (bound < previous.length && run.id >= previous[bound]!.first) {
      groups.push(group);
      group = [];
      bound++;
    }
    group.push(run);
  }
  groups.push(group);
  const out: RunBytes[][] = [];
  for (const g of groups) {
    if (g.length === 0) continue;
    const parts = g.length > 2 * target ? Math.ceil(g.length / target) : 1;
    for (let i = 0; i < parts; i++) {
      const part = g.slice(Math.floor((i * g.length) / parts), Math.floor(((i + 1) * g.length) / parts));
      const last = out.at(-1);
      if (last !== undefined && (last.length < target / 4 || part.length < target / 4) && last.length + part.length <= 2 * target) last.push(...part);
      else out.push(part);
    }
  }
  return out;
}

/** A segment's bytes and key: `{v: 2, entries}`, each run's entries copied as they are. */
export function encodeSegment(runs: readonly RunBytes[]): { key: string; bytes: Buffer; ref: SegmentRef } {
  // The map's last field is `entries`: packed empty, then its array header replaced by the real one.
  const head = Buffer.from(packr.pack({ v: 2, entries: [] }));
  if (head.at(-1) !== 0x90) throw new Error("unexpected segment header encoding");
  const count = runs.reduce((n, r) => n + r.n, 0);
  const bytes = Buffer.concat([head.subarray(0, head.length - 1), arrayHeader(count), ...runs.map((r) => r.bytes)]);
  const key = `${SEGMENT_PREFIX}${hashBytes(bytes)}`;
  return { key, bytes, ref: { key, n: runs.length, ids: idTable(runs.map((r) => r.id)) } };
}

/** Every run of `runs` (all loaded) as bytes, sorted by id. */
export function runBytesOf(runs: LazyRuns): RunBytes[] {
  const sorted: RunBytes[] = [];
  for (const run of runs.stored()) {
    // Entries are checked to name store run ids (UUIDs) as they are read.
    if (idBytes(run.id) === undefined) throw new Error(`internal: run id ${run.id} is not a UUID`);
    if ("raw" in run) sorted.push({ id: run.id, bytes: run.raw.b.subarray(run.raw.p, run.raw.end), n: run.raw.n });
    else sorted.push({ id: run.id, bytes: packEntries(run.entries), n: run.entries.length });
  }
  sorted.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return sorted;
}

/** The `NEWEST_RUNS` newest of `runs` in `ls` order. */
export function newestOf(runs: LazyRuns, ids: readonly string[]): NewestRuns {
  const all = ids.map((id) => ({ id, t: summaryTime(runs.summary(id)) ?? null }));
  all.sort(newerFirst);
  const top = all.slice(0, NEWEST_RUNS);
  return { ids: top.map((r) => r.id), t: top.map((r) => r.t) };
}
