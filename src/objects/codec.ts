import { isUtf8 } from "node:buffer";
import { Unpackr } from "msgpackr/unpack";
import { FormatError, UnsafePathError } from "./errors.js";
import { hashBytes, idFromBytes, isObjectId, type ObjectId } from "./ids.js";
import { encodeValue, HexBytes, MsgWriter } from "./msgpack.js";
import { decodeName, encodeName, hasRawBytes } from "./names.js";

// Objects are msgpack arrays with a type tag and a version first, written by a canonical writer
// (src/objects/msgpack.ts), so the same content always encodes to the same bytes (no maps whose key
// order could vary) and one kind of object is never read as another. Decoding re-encodes and
// compares, so only the canonical form is accepted.
const unpackr = new Unpackr({ useRecords: false, int64AsType: "number", mapsAsObjects: true });

const TREE_TAG = "gage-tree";
const CHUNKS_TAG = "gage-chunks";
const SNAPSHOT_TAG = "gage-snapshot";
const VERSION = 1;

export type EntryKind = "file" | "dir" | "symlink";
const KINDS: readonly EntryKind[] = ["file", "dir", "symlink"];

/**
 * One entry of a directory. `id` is: for a file, the SHA-256 of its bytes (as `sha256sum`);
 * for a dir, the id of its tree; for a symlink, the id of a blob holding the link's target.
 */
export interface TreeEntry {
  name: string;
  kind: EntryKind;
  /** Normalized permission bits: files 0o644/0o755/0o444/0o555, dirs 0o755/0o555, symlinks 0o777. */
  mode: number;
  /** Bytes of the file or of the link target; 0 for a dir. */
  size: number;
  id: ObjectId;
  /** For a file stored in content-defined chunks: the id of its chunk list. */
  chunks?: ObjectId;
}

/** Entries sorted by the UTF-8 bytes of their names, names unique. */
export interface Tree {
  entries: TreeEntry[];
}

export interface ChunkRef {
  id: ObjectId;
  size: number;
}

/** How a large file is stored: its chunks in order. The file's own id is in its tree entry. */
export interface ChunkList {
  size: number;
  chunks: ChunkRef[];
}

/** One file of a run's user log, stored whole. */
export interface SnapshotUserEntry {
  name: string;
  id: ObjectId;
  size: number;
}

export type SummaryValue = string | number | boolean | null;

/**
 * What lets a remote run be listed without fetching its files. Keys are free-form (sync decides);
 * the conventional ones are typed.
 */
export interface SnapshotSummary {
  operation?: string;
  status?: string;
  /** Epoch microseconds, as in a run's meta folder. */
  initialized?: number;
  staged?: number;
  started?: number;
  stopped?: number;
  label?: string;
  [key: string]: SummaryValue | undefined;
}

/** One run's state (docs/design.md §4; its folders are read by src/worktree). */
export interface Snapshot {
  runId: string;
  /** Tree of `ID/`. */
  files: ObjectId;
  /** Tree of the run's meta folder. */
  meta: ObjectId;
  /** The run's user log files, sorted by name. */
  user: SnapshotUserEntry[];
  parents: ObjectId[];
  summary: SnapshotSummary;
}

/** Orders names by their UTF-8 bytes, the order trees are kept in on every machine. */
export function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  if (isBmpBelowSurrogates(a) && isBmpBelowSurrogates(b)) return a < b ? -1 : 1;
  return Buffer.compare(encodeName(a), encodeName(b));
}

function isBmpBelowSurrogates(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0xd800) return false;
  return true;
}

/** Permission bits that matter (read-only, executable), normalized per kind. */
export function normalizeMode(kind: EntryKind, rawMode: number): number {
  const readOnly = (rawMode & 0o200) === 0;
  if (kind === "symlink") return 0o777;
  if (kind === "dir") return readOnly ? 0o555 : 0o755;
  return (readOnly ? 0o444 : 0o644) | (rawMode & 0o100 ? 0o111 : 0);
}

/** Why `name` cannot be a tree entry name, or `undefined` when it can. */
export function badEntryName(name: unknown): string | undefined {
  if (typeof name !== "string" || name === "") return "empty name";
  if (name === "." || name === "..") return `'${name}' is not a name`;
  if (name.includes("/") || name.includes("\\") || name.includes("\0")) return "name contains '/', '\\' or NUL";
  // A UTF-16 unit takes at most 3 bytes (an escaped raw byte 1): a name of 85 units or fewer needs no count.
  if (name.length > 85 && (hasRawBytes(name) ? encodeName(name).length : Buffer.byteLength(name, "utf8")) > 255) return "name longer than 255 bytes";
  return undefined;
}

function fail(what: string, reason: string): never {
  throw new FormatError(what, reason);
}

function checkSize(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) fail(what, `bad size ${String(v)}`);
  return v;
}

function checkTag(value: unknown, tag: string, what: string, length: number): unknown[] {
  if (!Array.isArray(value) || value[0] !== tag) fail(what, "not this kind of object");
  if (value[1] !== VERSION) fail(what, `unknown version ${String(value[1])}`);
  if (value.length !== length) fail(what, "wrong number of fields");
  return value;
}

function decodeCanonical(bytes: Uint8Array, what: string, encode: (v: unknown) => Buffer, parse: (raw: unknown) => unknown): unknown {
  let raw: unknown;
  try {
    raw = unpackr.unpack(bytes);
  } catch (err) {
    fail(what, `not msgpack (${(err as Error).message})`);
  }
  const value = parse(raw);
  if (!encode(value).equals(bytes)) fail(what, "not in canonical form");
  return value;
}

function entryOk(e: TreeEntry): string | undefined {
  const bad = badEntryName(e.name);
  if (bad !== undefined) throw new UnsafePathError(String(e.name), bad);
  if (!KINDS.includes(e.kind)) return `unknown kind ${String(e.kind)}`;
  if (normalizeMode(e.kind, e.mode) !== e.mode) return `mode ${e.mode.toString(8)} not allowed for a ${e.kind}`;
  if (e.kind === "dir" && e.size !== 0) return "a dir has size 0";
  if (e.chunks !== undefined && e.kind !== "file") return "only a file has chunks";
  return undefined;
}

export function encodeTree(tree: Tree): Buffer {
  const entries = tree.entries;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const bad = entryOk(e);
    if (bad !== undefined) fail("tree", `entry '${e.name}': ${bad}`);
    if (i > 0 && compareNames(entries[i - 1]!.name, e.name) >= 0) fail("tree", `entries not sorted or not unique at '${e.name}'`);
  }
  const w = new MsgWriter(64 + entries.length * 64);
  w.array(3);
  w.str(TREE_TAG);
  w.number(VERSION);
  w.array(entries.length);
  for (const e of entries) {
    // Ids are checked by the writer (a malformed one throws), cheaper than a regex per entry.
    w.array(6);
    // A name that is not UTF-8 is kept as its bytes (docs/mistakes.md, "Format note").
    if (hasRawBytes(e.name)) w.bin(encodeName(e.name));
    else w.str(e.name);
    w.number(KINDS.indexOf(e.kind));
    w.number(e.mode);
    w.number(e.size);
    w.id(e.id);
    w.value(e.chunks === undefined ? null : new HexBytes(e.chunks));
  }
  return w.done();
}

/** Decodes and validates a tree: hostile names, kinds, modes and orderings throw `FormatError`. */
export function decodeTree(bytes: Uint8Array): Tree {
  return fastTree(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) ?? slowTree(bytes);
}

const TREE_HEAD = Buffer.from([0x93, 0xa0 | TREE_TAG.length, ...Buffer.from(TREE_TAG), VERSION]);

/** What `scanTree` hands over of each entry: where its parts are in the tree's bytes. */
export interface ScannedEntry {
  kind: EntryKind;
  /** The name's bytes (UTF-8) are `[nameStart, nameEnd)`; `ascii` when all are below 0x80. */
  nameStart: number;
  nameEnd: number;
  ascii: boolean;
  mode: number;
  size: number;
  /** The 32 bytes of the entry's id start here. */
  idAt: number;
  /** The 32 bytes of its chunk list's id start here; -1 when it has none. */
  chunksAt: number;
}

/**
 * A tree walked straight from its bytes, each entry handed to `visit` (one object, reused), and
 * true, when they are what `encodeTree` writes (every length and number in its shortest form,
 * names as str of valid UTF-8, sorted by their bytes, every entry valid); false for anything else,
 * which `decodeTree` leaves to `slowTree`, which says what is wrong. Entries before the point where
 * it stopped may have been visited. Decoding and encoding again, as `slowTree` does, was most of
 * the cost of reading a clone's trees; `gage gc` follows ids without making strings of names.
 */
export function scanTree(b: Buffer, visit: (e: ScannedEntry) => void): boolean {
  const end = b.length;
  if (end < TREE_HEAD.length + 1 || b.compare(TREE_HEAD, 0, TREE_HEAD.length, 0, TREE_HEAD.length) !== 0) return false;
  let p = TREE_HEAD.length;
  let count: number;
  const t = b[p]!;
  if ((t & 0xf0) === 0x90) (count = t & 0x0f), (p += 1);
  else if (t === 0xdc && p + 3 <= end) (count = b.readUInt16BE(p + 1)), (p += 3);
  else if (t === 0xdd && p + 5 <= end) (count = b.readUInt32BE(p + 1)), (p += 5);
  else return false;
  if ((t === 0xdc && count < 16) || (t === 0xdd && count < 0x10000)) return false;
  // An entry takes at least 39 bytes: no count the bytes cannot hold is walked.
  if (count * 39 > end - p) return false;
  let prevStart = 0;
  let prevEnd = 0;
  const e: ScannedEntry = { kind: "file", nameStart: 0, nameEnd: 0, ascii: true, mode: 0, size: 0, idAt: 0, chunksAt: -1 };
  // A canonical unsigned integer at `p` (the shortest form for its value), else -1.
  const uint = (): number => {
    const c = b[p]!;
    if (c < 0x80) return (p += 1), c;
    let v: number;
    if (c === 0xcc && p + 2 <= end) (v = b[p + 1]!), (p += 2);
    else if (c === 0xcd && p + 3 <= end) (v = b.readUInt16BE(p + 1)), (p += 3);
    else if (c === 0xce && p + 5 <= end) (v = b.readUInt32BE(p + 1)), (p += 5);
    else if (c === 0xcf && p + 9 <= end) (v = b.readUInt32BE(p + 1) * 2 ** 32 + b.readUInt32BE(p + 5)), (p += 9);
    else return -1;
    const min = c === 0xcc ? 0x80 : c === 0xcd ? 0x100 : c === 0xce ? 0x10000 : 2 ** 32;
    return v >= min && Number.isSafeInteger(v) ? v : -1;
  };
  for (let i = 0; i < count; i++) {
    if (p + 39 > end || b[p] !== 0x96) return false;
    const h = b[p + 1]!;
    let n: number;
    if ((h & 0xe0) === 0xa0) (n = h & 0x1f), (p += 2);
    else if (h === 0xd9) (n = b[p + 2]!), (p += 3);
    else return false;
    if ((h === 0xd9 && n < 32) || n === 0 || n > 255 || p + n + 36 > end) return false;
    const nameStart = p;
    p += n;
    // Sorted by their bytes, each after the one before (so unique too).
    if (i > 0 && b.compare(b, prevStart, prevEnd, nameStart, p) <= 0) return false;
    prevStart = nameStart;
    prevEnd = p;
    // What badEntryName refuses, on the bytes: `.`, `..`, `/`, `\\`, NUL (the length is checked above).
    let ascii = true;
    for (let j = nameStart; j < p; j++) {
      const c = b[j]!;
      if (c === 0x2f || c === 0x5c || c === 0) return false;
      if (c >= 0x80) ascii = false;
    }
    if (b[nameStart] === 0x2e && (n === 1 || (n === 2 && b[nameStart + 1] === 0x2e))) return false;
    if (!ascii && !isUtf8(b.subarray(nameStart, p))) return false;
    const kind = KINDS[b[p++]!];
    if (kind === undefined) return false;
    const mode = uint();
    const size = uint();
    if (mode < 0 || size < 0 || normalizeMode(kind, mode) !== mode || (kind === "dir" && size !== 0)) return false;
    if (p + 35 > end || b[p] !== 0xc4 || b[p + 1] !== 32) return false;
    const idAt = p + 2;
    p += 34;
    let chunksAt = -1;
    if (b[p] === 0xc0) p += 1;
    else if (kind === "file" && p + 34 <= end && b[p] === 0xc4 && b[p + 1] === 32) {
      chunksAt = p + 2;
      p += 34;
    } else return false;
    e.kind = kind;
    e.nameStart = nameStart;
    e.nameEnd = prevEnd;
    e.ascii = ascii;
    e.mode = mode;
    e.size = size;
    e.idAt = idAt;
    e.chunksAt = chunksAt;
    visit(e);
  }
  return p === end;
}

/** `scanTree`, making the entries. */
function fastTree(b: Buffer): Tree | undefined {
  const entries: TreeEntry[] = [];
  const ok = scanTree(b, (e) => {
    const entry: TreeEntry = { name: b.toString(e.ascii ? "latin1" : "utf8", e.nameStart, e.nameEnd), kind: e.kind, mode: e.mode, size: e.size, id: b.toString("hex", e.idAt, e.idAt + 32) };
    if (e.chunksAt >= 0) entry.chunks = b.toString("hex", e.chunksAt, e.chunksAt + 32);
    entries.push(entry);
  });
  return ok ? { entries } : undefined;
}

function slowTree(bytes: Uint8Array): Tree {
  return decodeCanonical(bytes, "tree", (t) => encodeTree(t as Tree), (raw) => {
    const [, , list] = checkTag(raw, TREE_TAG, "tree", 3);
    if (!Array.isArray(list)) fail("tree", "entries are not a list");
    const entries = list.map((item: unknown): TreeEntry => {
      if (!Array.isArray(item) || item.length !== 6) fail("tree", "bad entry");
      const [name, kind, mode, size, id, chunks] = item as unknown[];
      const k = typeof kind === "number" ? KINDS[kind] : undefined;
      if (k === undefined) fail("tree", `unknown kind ${String(kind)}`);
      if (typeof name !== "string" && !(name instanceof Uint8Array)) fail("tree", "entry name is not a string");
      if (typeof mode !== "number") fail("tree", "mode is not a number");
      // Bytes that are UTF-8 re-encode as a string: not canonical, refused below.
      const entry: TreeEntry = { name: typeof name === "string" ? name : decodeName(Buffer.from(name.buffer, name.byteOffset, name.byteLength)), kind: k, mode, size: checkSize(size, "tree"), id: idFromBytes(id as Uint8Array, "tree") };
      if (chunks !== null) entry.chunks = idFromBytes(chunks as Uint8Array, "tree");
      return entry;
    });
    return { entries };
  }) as Tree;
}

export function encodeChunkList(list: ChunkList): Buffer {
  let total = 0;
  for (const c of list.chunks) total += c.size;
  if (total !== list.size) fail("chunk list", `chunk sizes add up to ${total}, not ${list.size}`);
  if (!list.chunks.every((c) => isObjectId(c.id))) fail("chunk list", "bad chunk id");
  return encodeValue([CHUNKS_TAG, VERSION, list.size, list.chunks.map((c) => [new HexBytes(c.id), c.size])]);
}

/**
 * The store's bounds on chunks, whatever the chunking parameters (tests use tiny ones): every
 * chunk but the last holds at least MIN_CHUNK_BYTES, none more than MAX_CHUNK_BYTES. So a list's
 * length is bounded by its file's size, and a file can't be made a million reads of one byte.
 */
export const MIN_CHUNK_BYTES = 64;
export const MAX_CHUNK_BYTES = 16 * 1024 * 1024;

export function decodeChunkList(bytes: Uint8Array): ChunkList {
  return decodeCanonical(bytes, "chunk list", (l) => encodeChunkList(l as ChunkList), (raw) => {
    const [, , rawSize, list] = checkTag(raw, CHUNKS_TAG, "chunk list", 4);
    const size = checkSize(rawSize, "chunk list");
    if (!Array.isArray(list)) fail("chunk list", "chunks are not a list");
    if (list.length > Math.floor(size / MIN_CHUNK_BYTES) + 1) fail("chunk list", `${list.length} chunks for ${size} bytes`);
    const chunks = list.map((item: unknown, i: number): ChunkRef => {
      if (!Array.isArray(item) || item.length !== 2) fail("chunk list", "bad chunk");
      const chunk = { id: idFromBytes(item[0] as Uint8Array, "chunk list"), size: checkSize(item[1], "chunk list") };
      const min = i === list.length - 1 ? 1 : MIN_CHUNK_BYTES;
      if (chunk.size < min || chunk.size > MAX_CHUNK_BYTES) fail("chunk list", `chunk ${i} has ${chunk.size} bytes`);
      return chunk;
    });
    return { size, chunks };
  }) as ChunkList;
}

function checkSummary(summary: Record<string, unknown>): [string, SummaryValue][] {
  const pairs: [string, SummaryValue][] = [];
  for (const key of Object.keys(summary).sort(compareNames)) {
    const v = summary[key];
    if (v === undefined) continue;
    if (!(v === null || typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v)))) {
      fail("snapshot", `summary value of '${key}' is not a string, number, boolean or null`);
    }
    pairs.push([key, v]);
  }
  return pairs;
}

export function encodeSnapshot(s: Snapshot): Buffer {
  if (typeof s.runId !== "string" || badEntryName(s.runId) !== undefined) fail("snapshot", `bad run id ${JSON.stringify(s.runId)}`);
  for (let i = 0; i < s.user.length; i++) {
    const u = s.user[i]!;
    const bad = badEntryName(u.name);
    if (bad !== undefined) fail("snapshot", `user log entry '${u.name}': ${bad}`);
    if (i > 0 && compareNames(s.user[i - 1]!.name, u.name) >= 0) fail("snapshot", "user log entries not sorted or not unique");
  }
  const ids = [s.files, s.meta, ...s.parents, ...s.user.map((u) => u.id)];
  if (!ids.every(isObjectId)) fail("snapshot", "bad object id");
  return encodeValue([
    SNAPSHOT_TAG,
    VERSION,
    s.runId,
    new HexBytes(s.files),
    new HexBytes(s.meta),
    s.user.map((u) => [u.name, new HexBytes(u.id), u.size]),
    s.parents.map((p) => new HexBytes(p)),
    checkSummary(s.summary),
  ]);
}

export function decodeSnapshot(bytes: Uint8Array): Snapshot {
  return decodeCanonical(bytes, "snapshot", (s) => encodeSnapshot(s as Snapshot), (raw) => {
    const [, , runId, files, meta, user, parents, summary] = checkTag(raw, SNAPSHOT_TAG, "snapshot", 8);
    if (typeof runId !== "string") fail("snapshot", "run id is not a string");
    if (!Array.isArray(user) || !Array.isArray(parents) || !Array.isArray(summary)) fail("snapshot", "bad field");
    const out: SnapshotSummary = {};
    for (const pair of summary as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string") fail("snapshot", "bad summary");
      out[pair[0]] = pair[1] as SummaryValue;
    }
    return {
      runId,
      files: idFromBytes(files as Uint8Array, "snapshot"),
      meta: idFromBytes(meta as Uint8Array, "snapshot"),
      user: user.map((u: unknown): SnapshotUserEntry => {
        if (!Array.isArray(u) || u.length !== 3 || typeof u[0] !== "string") fail("snapshot", "bad user log entry");
        return { name: u[0], id: idFromBytes(u[1] as Uint8Array, "snapshot"), size: checkSize(u[2], "snapshot") };
      }),
      parents: parents.map((p: unknown) => idFromBytes(p as Uint8Array, "snapshot")),
      summary: out,
    };
  }) as Snapshot;
}

export const treeId = (tree: Tree): ObjectId => hashBytes(encodeTree(tree));
export const snapshotId = (snapshot: Snapshot): ObjectId => hashBytes(encodeSnapshot(snapshot));
