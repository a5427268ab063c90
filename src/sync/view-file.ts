import { Packr } from "msgpackr/pack";
import { hashBytes } from "../objects/index.js";
import { emptyView, keyTime, openCachedRuns, type AheadIds, type RemoteView } from "./heads.js";
import { packEntries, type RawRun } from "./lazy-runs.js";
import { arrayHeader } from "./msgpack-spans.js";
import { checkSegmentRefs, idAt, idTable, SEGMENT_KEY_RE, type SegmentRef } from "./segment-table.js";
import type { CachedBlock, OpenedBlock } from "./view-blocks.js";
import type { HeadEntry } from "./head-entry.js";
import type { StateFileReader } from "../state/index.js";

const packr = new Packr({ useRecords: false, variableMapSize: true });

/**
 * The cached view's file (`.gage-sync/remotes/<hash>.view`): MAGIC, the blocks, the header
 * (msgpack: catalog key, newest head, recent heads, uncovered count, the catalog root's segments
 * with their id tables and its newest runs, the stale runs, the heads read that the catalog does
 * not hold with the ids of the runs each changed, and the blocks: head key or null, offset,
 * length, SHA-256), then [u32 LE header length] and the SHA-256 of the header (32 bytes), last. A
 * block holds runs as [u8 id length][id][u32 LE length][msgpack of its head entries]. With the
 * header last, a command that changed a few blocks writes them and a new header over the old
 * header, in place: the blocks it kept stay where they are (`encodeViewFile`).
 *
 * The runs kept are those no segment holds as they are (changed by a head the catalog does not
 * hold, stale, or listed by no segment) and those the runs directory holds: any other run is
 * exactly what its segment says (a catalog is the merge of the heads it holds), so a directory
 * that listed a 100,000-run remote keeps its id tables, and a member its own runs, not the remote's.
 * A run a head ahead of the catalog changed is in the block of the newest such head: once a new
 * catalog holds that head, the block is dropped unread (`openCachedRuns`).
 *
 * A push with nothing to do needs only the header; a push of a few runs decodes those runs' entries
 * and writes the others back as the bytes they were read as.
 */
const MAGIC = Buffer.from("GAGEVW6\n");

/** A view as cached: its bytes, and its stamp (the SHA-256 of its header, so of all it holds). */
export interface EncodedView {
  bytes: Buffer;
  stamp: string;
}

/** Where the cached view's file was read from: a command may update it in place if it is unchanged since. */
export interface ViewFileLayout {
  /** Where its header starts (its blocks are before). */
  headerAt: number;
  /** `StateFileReader.version` of the file read. */
  version: string;
}

const TRAILER = 4 + 32;

type HeldRun = { id: string; raw: RawRun } | { id: string; entries: HeadEntry[] };

/**
 * A block's bytes, allocated once: a run read from a cached view's file is copied as its record
 * was read; one read from a catalog gets a record header around its bytes; one set anew is encoded.
 */
function runsSection(runs: readonly HeldRun[]): Buffer {
  const items: { id: string; b: Buffer; p: number; end: number; n: number; whole: boolean }[] = [];
  let length = 0;
  for (const run of runs) {
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

type Block = { head: string | undefined; bytes: Buffer; sha?: string; offset?: number };

/**
 * The runs kept, grouped into blocks: a run a head ahead of the catalog changed in the block of
 * the newest such head; the others kept (stale, listed by no segment) and the runs held here in
 * blocks of no head, always opened (a member that read every head a new catalog holds keeps its
 * runs; `keptBlocks`). A block opened from the cached file whose runs are all still held as read
 * from it, and that no other run joins, is copied as its bytes: a push re-encodes only what
 * changed.
 */
function blocksOf(view: RemoteView, here: (id: string) => boolean): Block[] {
  const reused = new Map<string, OpenedBlock>();
  for (const block of view.opened ?? []) {
    if (block.head !== undefined && view.ahead.has(block.head) && block.ids.every((id) => view.runs.raw(id)?.b === block.bytes && !here(id))) reused.set(block.head, block);
  }
  const reusedBytes = new Set<Buffer>([...reused.values()].map((b) => b.bytes));
  const rest = new Set<string>();
  for (const id of view.runs.keysHeld()) {
    const b = view.runs.raw(id)?.b;
    if (b === undefined || !reusedBytes.has(b)) rest.add(id);
  }
  // The runs held here go to the blocks of no head, whatever heads changed them: heads and
  // segments are looked up for the others alone (a member's view keeps its own runs, thousands).
  const elsewhere = new Set<string>();
  for (const id of rest) if (!here(id)) elsewhere.add(id);
  const owner = newestHeads(view, elsewhere);
  // A run that joins a copied block's head: that block is encoded again, with it.
  for (const [, head] of [...owner]) {
    const block = reused.get(head);
    if (block === undefined) continue;
    reused.delete(head);
    for (const other of block.ids) {
      rest.add(other);
      owner.set(other, head);
    }
  }
  const listed = view.runs.listed([...elsewhere].filter((id) => !owner.has(id)));
  const groups = new Map<string | undefined, HeldRun[]>([[undefined, []]]);
  for (const key of view.ahead.keys()) if (!reused.has(key)) groups.set(key, []);
  for (const run of view.runs.held()) {
    if (!rest.has(run.id)) continue;
    const mine = here(run.id);
    const head = mine ? undefined : owner.get(run.id);
    if (head === undefined && !mine && listed.has(run.id) && !view.runs.stale(run.id)) continue;
    groups.get(head)!.push(run);
  }
  const out = keptBlocks(view, groups.get(undefined)!);
  for (const key of [...view.ahead.keys()].sort()) {
    const block = reused.get(key);
    if (block !== undefined) out.push({ head: key, bytes: block.bytes, sha: block.sha, offset: block.offset });
    else if (groups.get(key)!.length > 0) out.push({ head: key, bytes: runsSection(groups.get(key)!) });
  }
  return out;
}

/**
 * The runs kept for no head ahead, in blocks by the first character of their id (at most 16: ids
 * are hex), so that a push of a few runs encodes and writes their blocks alone. A group whose runs
 * are all still held as read from one opened block, and are all of it, is that block's bytes.
 */
function keptBlocks(view: RemoteView, runs: readonly HeldRun[]): Block[] {
  const byBytes = new Map<Buffer, OpenedBlock>();
  for (const block of view.opened ?? []) if (block.head === undefined) byBytes.set(block.bytes, block);
  const groups = new Map<string, HeldRun[]>();
  for (const run of runs) {
    const group = groups.get(run.id[0]!);
    if (group === undefined) groups.set(run.id[0]!, [run]);
    else group.push(run);
  }
  return [...groups.keys()].sort().map((key) => {
    const group = groups.get(key)!;
    const b = "raw" in group[0]! ? group[0].raw.b : undefined;
    const block = b === undefined ? undefined : byBytes.get(b);
    if (block !== undefined && block.ids.length === group.length && group.every((r) => "raw" in r && r.raw.b === b)) {
      return { head: undefined, bytes: block.bytes, sha: block.sha, offset: block.offset };
    }
    return { head: undefined, bytes: runsSection(group) };
  });
}

/** The newest head ahead that changed each of `ids` (those no head ahead changed are left out). */
function newestHeads(view: RemoteView, ids: ReadonlySet<string>): Map<string, string> {
  const owner = new Map<string, string>();
  if (ids.size === 0) return owner;
  // Tables read from the file are compared as hex, not converted id by id.
  let byHex: Map<string, string> | undefined;
  for (const key of [...view.ahead.keys()].sort()) {
    const list = view.ahead.get(key)!;
    if (!Buffer.isBuffer(list)) {
      for (const id of list) if (ids.has(id)) owner.set(id, key);
      continue;
    }
    byHex ??= new Map([...ids].map((id) => [id.replaceAll("-", ""), id]));
    const hex = list.toString("hex");
    for (let i = 0; i < hex.length; i += 32) {
      const id = byHex.get(hex.slice(i, i + 32));
      if (id !== undefined) owner.set(id, key);
    }
  }
  return owner;
}

/**
 * Serializes a view for the local cache of last-known remote heads. `here`: runs its segment holds
 * as they are that are kept all the same (those the runs directory holds).
 */
export function encodeView(view: RemoteView, here: (id: string) => boolean = () => false): EncodedView {
  openCachedRuns(view);
  return wholeFile(view, blocksOf(view, here));
}

/**
 * The view for its cache file, with its blocks found once: for a view read from that file
 * (`file`), the bytes to write over it from `at` on (the blocks it copies stay where they are; the
 * others, then the header, go over the old header), unless the file would rather be written anew
 * (no block is kept, or the space of blocks no longer used would outweigh the blocks used): then,
 * as without `file`, the whole file (`encodeView`).
 */
export function encodeViewFile(
  view: RemoteView,
  file: ViewFileLayout | undefined,
  here: (id: string) => boolean = () => false,
): { update: { at: number; tail: Buffer; stamp: string } } | { whole: EncodedView } {
  openCachedRuns(view);
  const blocks = blocksOf(view, here);
  if (file === undefined) return { whole: wholeFile(view, blocks) };
  const kept = blocks.filter((b) => b.offset !== undefined && b.offset + b.bytes.length <= file.headerAt);
  const fresh = blocks.filter((b) => !kept.includes(b));
  const keptBytes = kept.reduce((n, b) => n + b.bytes.length, 0);
  const freshBytes = fresh.reduce((n, b) => n + b.bytes.length, 0);
  if (kept.length === 0 || file.headerAt - MAGIC.length - keptBytes > keptBytes + freshBytes) return { whole: wholeFile(view, blocks) };
  let at = file.headerAt;
  const placed = blocks.map((b) => {
    if (kept.includes(b)) return { ...b, offset: b.offset! };
    const offset = at;
    at += b.bytes.length;
    return { ...b, offset };
  });
  const { header, trailer, stamp } = headerOf(view, placed);
  return { update: { at: file.headerAt, tail: Buffer.concat([...fresh.map((b) => b.bytes), header, trailer]), stamp } };
}

function wholeFile(view: RemoteView, blocks: readonly Block[]): EncodedView {
  let at = MAGIC.length;
  const placed = blocks.map((b) => {
    const offset = at;
    at += b.bytes.length;
    return { ...b, offset };
  });
  const { header, trailer, stamp } = headerOf(view, placed);
  return { bytes: Buffer.concat([MAGIC, ...blocks.map((b) => b.bytes), header, trailer]), stamp };
}

function headerOf(view: RemoteView, blocks: readonly (Block & { offset: number })[]): { header: Buffer; trailer: Buffer; stamp: string } {
  const header = Buffer.from(
    packr.pack({
      catalogKey: view.catalogKey ?? null,
      newest: view.newest ?? null,
      recent: [...view.recent],
      uncovered: view.uncovered,
      segments: view.runs.segments().map((s) => ({ key: s.key, n: s.n, ids: s.ids })),
      newestRuns: view.newestRuns === undefined ? null : { ids: idTable(view.newestRuns.ids), t: view.newestRuns.t, key: view.newestRuns.key ?? null },
      stale: view.runs.staleIds(),
      ahead: [...view.ahead].map(([key, ids]) => [key, Buffer.isBuffer(ids) ? ids : idTable(ids)]),
      blocks: blocks.map((b) => [b.head ?? null, b.offset, b.bytes.length, b.sha ?? hashBytes(b.bytes)]),
    }),
  );
  const stamp = hashBytes(header);
  const trailer = Buffer.alloc(TRAILER);
  trailer.writeUInt32LE(header.length);
  trailer.write(stamp, 4, "hex");
  return { header, trailer, stamp };
}

/**
 * Reads a cached view (its bytes, or its file open: then only the header and the blocks opened are
 * read, and the caller closes the file once `refreshView` opened them); anything unreadable, or of
 * an older format, is `undefined` (the cache is only a shortcut). The header is checked against its digest here. Each block is checked against
 * its own as it is opened: here, or with `lazy` when `refreshView` opens it (a block a new catalog
 * holds is never read; a damaged one throws `CachedViewDamaged`, and the caller starts afresh).
 * Each run is decoded at its first use.
 */
export function decodeView(file: Buffer | StateFileReader, opts: { lazy?: boolean } = {}): { view: RemoteView; stamp: string } | undefined {
  const reader = Buffer.isBuffer(file) ? bufferReader(file) : file;
  try {
    if (reader.size < MAGIC.length + TRAILER || !reader.read(0, MAGIC.length).equals(MAGIC)) return undefined;
    const trailer = reader.read(reader.size - TRAILER, TRAILER);
    const headerAt = reader.size - TRAILER - trailer.readUInt32LE(0);
    if (headerAt < MAGIC.length) return undefined;
    const header = reader.read(headerAt, reader.size - TRAILER - headerAt);
    const stamp = hashBytes(header);
    if (!trailer.subarray(4).equals(Buffer.from(stamp, "hex"))) return undefined;
    const doc = packr.unpack(header) as Record<string, unknown>;
    if (!Array.isArray(doc.recent)) return undefined;
    const blocks = cachedBlocks(doc.blocks, reader, headerAt);
    const segments = cachedSegments(doc.segments);
    const ahead = cachedAhead(doc.ahead);
    if (blocks === undefined || segments === undefined || ahead === undefined || !Array.isArray(doc.stale)) return undefined;
    const view = emptyView();
    view.ahead = ahead;
    view.runs.setSegments(segments);
    view.cached = { blocks, stale: doc.stale.filter((id): id is string => typeof id === "string") };
    if (reader.version !== undefined) view.file = { headerAt, version: reader.version };
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
    if (opts.lazy !== true) openCachedRuns(view);
    return { view, stamp };
  } catch {
    return undefined;
  }
}

function bufferReader(bytes: Buffer): StateFileReader {
  return { size: bytes.length, read: (start, length) => bytes.subarray(start, start + length), close: () => undefined };
}

/** The blocks a cached view's header lists, each read from the file before its header when opened; undefined when one does not fit there. */
function cachedBlocks(raw: unknown, file: StateFileReader, headerAt: number): CachedBlock[] | undefined {
  if (!Array.isArray(raw)) return undefined;
  const out: CachedBlock[] = [];
  for (const item of raw) {
    if (!Array.isArray(item) || !(item[0] === null || (typeof item[0] === "string" && keyTime(item[0]) !== undefined))) return undefined;
    const [head, offset, length, sha] = item as [string | null, number, number, unknown];
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < MAGIC.length || length < 0 || offset + length > headerAt || typeof sha !== "string") return undefined;
    out.push({ ...(head === null ? {} : { head }), read: () => file.read(offset, length), offset, length, sha });
  }
  return out;
}

/** The heads ahead of the catalog a cached view holds, with their runs' id tables; undefined when damaged. */
function cachedAhead(raw: unknown): Map<string, AheadIds> | undefined {
  if (!Array.isArray(raw)) return undefined;
  const out = new Map<string, AheadIds>();
  for (const item of raw) {
    if (!Array.isArray(item) || typeof item[0] !== "string" || keyTime(item[0]) === undefined || !(item[1] instanceof Uint8Array) || item[1].length % 16 !== 0) return undefined;
    out.set(item[0], Buffer.from(item[1].buffer, item[1].byteOffset, item[1].length));
  }
  return out;
}

/** The segment table a cached view holds, its form checked (its order was, as it was read from a root, and the header's digest holds); undefined when damaged. */
function cachedSegments(raw: unknown): SegmentRef[] | undefined {
  if (!Array.isArray(raw)) return undefined;
  const refs = checkSegmentRefs(raw, { ordered: true });
  return typeof refs === "string" ? undefined : refs;
}
