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
 * runs section), then the runs section: per run, in id order, [u8 id length][id][u32 LE length]
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

/** Bytes `b[p, end)`. */
interface Span {
  b: Buffer;
  p: number;
  end: number;
}

/**
 * Every run's record of the runs section, in id order: a run read from this file and never
 * decoded is copied as it was read (neighbours joined, so a push of two runs copies a few spans,
 * not 2,000 records); one read from a catalog gets a record header around its bytes; a decoded
 * one is encoded anew.
 */
function records(runs: LazyRuns): Span[] {
  const out: Span[] = [];
  let last: Span | undefined;
  for (const run of runs.sorted()) {
    if ("raw" in run && run.raw.record !== undefined) {
      const { b, record, end } = run.raw;
      if (last !== undefined && last.b === b && last.end === record) last.end = end;
      else out.push((last = { b, p: record, end }));
      continue;
    }
    const body = "raw" in run ? [arrayHeader(run.raw.n), run.raw.b.subarray(run.raw.p, run.raw.end)] : [arrayHeader(run.entries.length), packEntries(run.entries)];
    const head = Buffer.allocUnsafe(1 + run.id.length + 4);
    head[0] = run.id.length;
    head.write(run.id, 1, "latin1");
    head.writeUInt32LE(body[0]!.length + body[1]!.length, 1 + run.id.length);
    const b = Buffer.concat([head, ...body]);
    out.push((last = { b, p: 0, end: b.length }));
  }
  return out;
}

/** Serializes a view for the local cache of last-known remote heads. */
export function encodeView(view: RemoteView): EncodedView {
  const spans = records(view.runs);
  const section = Buffer.allocUnsafe(spans.reduce((n, r) => n + r.end - r.p, 0));
  let o = 0;
  for (const r of spans) o += r.b.copy(section, o, r.p, r.end);
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
