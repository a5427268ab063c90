import { Packr } from "msgpackr/pack";
import { hashBytes } from "../objects/index.js";
import { isRunId } from "../runs/layout.js";
import { emptyView, type RemoteView } from "./heads.js";
import { packEntries, type LazyRuns } from "./lazy-runs.js";
import { arrayHeader, containerAt } from "./msgpack-spans.js";

const packr = new Packr({ useRecords: false, variableMapSize: true });

/**
 * The cached view's file (`.gage-sync/remotes/<hash>.view`): MAGIC, [u32 LE header length], the
 * header (msgpack: catalog key, newest head, recent heads, uncovered count, and the SHA-256 of the
 * runs section), then the runs section: per run, [u8 id length][id][u32 LE length]
 * [msgpack of its head entries].
 *
 * A push with nothing to do needs only the header; a push of a few runs decodes those runs' entries
 * and writes the others back as the bytes they were read as. Decoding and encoding every entry
 * was a large part of such a push.
 */
const MAGIC = Buffer.from("GAGEVW3\n");

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
function runsSection(runs: LazyRuns): Buffer {
  const items: { id: string; b: Buffer; p: number; end: number; n: number; whole: boolean }[] = [];
  let length = 0;
  for (const run of runs.stored()) {
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

/** Serializes a view for the local cache of last-known remote heads. */
export function encodeView(view: RemoteView): EncodedView {
  const section = runsSection(view.runs);
  const header = Buffer.from(
    packr.pack({
      catalogKey: view.catalogKey ?? null,
      newest: view.newest ?? null,
      recent: [...view.recent],
      uncovered: view.uncovered,
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
    for (const k of doc.recent) if (typeof k === "string") view.recent.add(k);
    if (typeof doc.uncovered === "number") view.uncovered = doc.uncovered;
    if (typeof doc.catalogKey === "string") view.catalogKey = doc.catalogKey;
    if (typeof doc.newest === "string") view.newest = doc.newest;
    return { view, stamp: hashBytes(header) };
  } catch {
    return undefined;
  }
}
