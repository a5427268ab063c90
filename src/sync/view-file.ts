import { Packr } from "msgpackr/pack";
import { hashBytes } from "../objects/index.js";
import { isRunId } from "../runs/layout.js";
import { emptyView, keyTime, runsAhead, type RemoteView } from "./heads.js";
import { packEntries, type LazyRuns } from "./lazy-runs.js";
import { arrayHeader, containerAt } from "./msgpack-spans.js";
import { checkSegmentRefs, idAt, idTable, SEGMENT_KEY_RE, type SegmentRef } from "./segment-table.js";

const packr = new Packr({ useRecords: false, variableMapSize: true });

/**
 * The cached view's file (`.gage-sync/remotes/<hash>.view`): MAGIC, [u32 LE header length], the
 * header (msgpack: catalog key, newest head, recent heads, uncovered count, the catalog root's
 * segments with their id tables and its newest runs, the stale runs, the heads read that the
 * catalog does not hold with the ids of the runs each changed, and the SHA-256 of the runs
 * section), then the runs section: per run, [u8 id length][id][u32 LE length]
 * [msgpack of its head entries].
 *
 * The runs kept are those no segment holds as they are (changed by a head the catalog does not
 * hold, stale, or listed by no segment) and those the runs directory holds: any other run is
 * exactly what its segment says (a catalog is the merge of the heads it holds), so a directory
 * that listed a 100,000-run remote keeps its id tables, and a member its own runs, not the remote's.
 *
 * A push with nothing to do needs only the header; a push of a few runs decodes those runs' entries
 * and writes the others back as the bytes they were read as. Decoding and encoding every entry
 * was a large part of such a push.
 */
const MAGIC = Buffer.from("GAGEVW5\n");

/** A view as cached: its bytes, and its stamp (the SHA-256 of its header, so of all it holds). */
export interface EncodedView {
  bytes: Buffer;
  stamp: string;
}

/**
 * The runs section, in id order, allocated once: a run read from a cached view's file is copied
 * as its record was read; one read from a catalog gets a record header around its bytes; one set
 * anew is encoded.
 */
function runsSection(runs: LazyRuns, keep: (id: string) => boolean): Buffer {
  const items: { id: string; b: Buffer; p: number; end: number; n: number; whole: boolean }[] = [];
  let length = 0;
  for (const run of runs.held()) {
    if (!keep(run.id)) continue;
    let item;
    if ("raw" in run && run.raw.record !== undefined) item = { id: run.id, b: run.raw.b, p: run.raw.record, end: run.raw.end, n: 0, whole: true };
    else if ("raw" in run) item = { id: run.id, b: run.raw.b, p: run.raw.p, end: run.raw.end, n: run.raw.n, whole: false };
    else {
      const b = packEntries(run.entries);
      item = { id: run.id, b, p: 0, end: b.length, n: run.entries.length, whole: false };
    }
    items.push(item);
    length += item.end - item.p + (item.whole ? 0 : 1 + item.id.length + 4 + arrayHeader(item.n).length);
  }
  const section = Buffer.allocUnsafe(length);
  let o = 0;
  for (const item of items) {
    if (!item.whole) {
      const list = arrayHeader(item.n);
      section[o] = item.id.length;
      section.write(item.id, o + 1, "latin1");
      section.writeUInt32LE(list.length + item.end - item.p, o + 1 + item.id.length);
      o += 1 + item.id.length + 4;
      o += list.copy(section, o);
    }
    o += item.b.copy(section, o, item.p, item.end);
  }
  return section;
}

/**
 * Serializes a view for the local cache of last-known remote heads. `here`: runs its segment holds
 * as they are that are kept all the same (those the runs directory holds).
 */
export function encodeView(view: RemoteView, here: (id: string) => boolean = () => false): EncodedView {
  const listed = view.runs.listedHeld();
  const ahead = runsAhead(view);
  const section = runsSection(view.runs, (id) => !listed.has(id) || ahead.has(id) || view.runs.stale(id) || here(id));
  const header = Buffer.from(
    packr.pack({
      catalogKey: view.catalogKey ?? null,
      newest: view.newest ?? null,
      recent: [...view.recent],
      uncovered: view.uncovered,
      segments: view.runs.segments().map((s) => ({ key: s.key, n: s.n, ids: s.ids })),
      newestRuns: view.newestRuns === undefined ? null : { ids: idTable(view.newestRuns.ids), t: view.newestRuns.t, key: view.newestRuns.key ?? null },
      stale: view.runs.staleIds(),
      ahead: [...view.ahead].map(([key, ids]) => [key, idTable(ids)]),
      entries: hashBytes(section),
    }),
  );
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length);
  return { bytes: Buffer.concat([MAGIC, length, header, section]), stamp: hashBytes(header) };
}

/**
 * Reads a cached view; anything unreadable, or of an older format, is `undefined` (the cache is
 * only a shortcut). The runs section is checked against the header's digest here; each run is
 * decoded at its first use.
 */
export function decodeView(bytes: Buffer): { view: RemoteView; stamp: string } | undefined {
  try {
    if (bytes.length < MAGIC.length + 4 || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
    const headerEnd = MAGIC.length + 4 + bytes.readUInt32LE(MAGIC.length);
    const header = bytes.subarray(MAGIC.length + 4, headerEnd);
    const section = bytes.subarray(headerEnd);
    const doc = packr.unpack(header) as Record<string, unknown>;
    if (!Array.isArray(doc.recent) || doc.entries !== hashBytes(section)) return undefined;
    const view = emptyView();
    for (let p = 0; p < section.length; ) {
      const idEnd = p + 1 + section[p]!;
      const end = idEnd + 4 + section.readUInt32LE(idEnd);
      const id = section.toString("latin1", p + 1, idEnd);
      const list = end <= section.length ? containerAt(section, idEnd + 4) : undefined;
      // Run ids name folders: a file that holds anything else is damaged, so not used at all.
      if (list?.kind !== "array" || !isRunId(id)) return undefined;
      view.runs.adopt(id, { b: section, p: list.body, end, n: list.count, from: "cache", record: p });
      p = end;
    }
    const segments = cachedSegments(doc.segments);
    const ahead = cachedAhead(doc.ahead);
    if (segments === undefined || ahead === undefined || !Array.isArray(doc.stale)) return undefined;
    view.ahead = ahead;
    view.runs.setSegments(segments, { staleIds: doc.stale.filter((id): id is string => typeof id === "string") });
    const nw = doc.newestRuns as { ids?: unknown; t?: unknown; key?: unknown } | null;
    if (nw !== null && typeof nw === "object" && nw.ids instanceof Uint8Array && Array.isArray(nw.t) && nw.ids.length === nw.t.length * 16) {
      const ids = Buffer.from(nw.ids.buffer, nw.ids.byteOffset, nw.ids.length);
      view.newestRuns = { ids: nw.t.map((_, i) => idAt(ids, i)), t: nw.t.map((t) => (typeof t === "number" ? t : null)) };
      if (typeof nw.key === "string" && SEGMENT_KEY_RE.test(nw.key)) view.newestRuns.key = nw.key;
    }
    for (const k of doc.recent) if (typeof k === "string") view.recent.add(k);
    if (typeof doc.uncovered === "number") view.uncovered = doc.uncovered;
    if (typeof doc.catalogKey === "string") view.catalogKey = doc.catalogKey;
    if (typeof doc.newest === "string") view.newest = doc.newest;
    return { view, stamp: hashBytes(header) };
  } catch {
    return undefined;
  }
}

/** The heads ahead of the catalog a cached view holds, with their runs; undefined when damaged. */
function cachedAhead(raw: unknown): Map<string, string[]> | undefined {
  if (!Array.isArray(raw)) return undefined;
  const out = new Map<string, string[]>();
  for (const item of raw) {
    if (!Array.isArray(item) || typeof item[0] !== "string" || keyTime(item[0]) === undefined || !(item[1] instanceof Uint8Array) || item[1].length % 16 !== 0) return undefined;
    const table = Buffer.from(item[1].buffer, item[1].byteOffset, item[1].length);
    out.set(item[0], Array.from({ length: table.length / 16 }, (_, i) => idAt(table, i)));
  }
  return out;
}

/** The segment table a cached view holds, checked as a root's is; undefined when damaged. */
function cachedSegments(raw: unknown): SegmentRef[] | undefined {
  if (!Array.isArray(raw)) return undefined;
  const refs = checkSegmentRefs(raw);
  return typeof refs === "string" ? undefined : refs;
}
