import { Unpackr } from "msgpackr/unpack";
import { compareNames } from "./codec.js";
import { entryKind, listDir, readListing, S_IFDIR, S_IFLNK, S_IFREG } from "./dir-listing.js";
import { FormatError } from "./errors.js";
import { MsgWriter } from "./msgpack.js";

// A tree's files' modification times, kept beside the tree and not in it: a tree's id is its
// content, and a file touched (or copied without its time) must not make a new version of a run.
// Object: ["gage-times", 1, [[path, mtime µs]…]], paths relative to the tree's folder with '/'
// between names, sorted by their UTF-8 bytes, unique (docs/formats.md).
const TAG = "gage-times";
const VERSION = 1;
const unpackr = new Unpackr({ useRecords: false, int64AsType: "number", mapsAsObjects: true });

/** Path below a folder ("a/b.txt") → modification time in microseconds since the epoch. */
export type FileTimes = Map<string, number>;

export function encodeTimes(times: FileTimes): Buffer {
  const paths = [...times.keys()].sort(compareNames);
  const w = new MsgWriter(64 + paths.length * 32);
  w.array(3);
  w.str(TAG);
  w.number(VERSION);
  w.array(paths.length);
  for (const path of paths) {
    w.array(2);
    w.str(path);
    w.number(times.get(path)!);
  }
  return w.done();
}

/** Decodes a times object; anything malformed throws `FormatError` (times are hints, checked like everything read). */
export function decodeTimes(bytes: Uint8Array): FileTimes {
  const fail = (why: string): never => {
    throw new FormatError("times", why);
  };
  let raw: unknown;
  try {
    raw = unpackr.unpack(bytes);
  } catch (err) {
    fail(`not msgpack (${(err as Error).message})`);
  }
  if (!Array.isArray(raw) || raw.length !== 3 || raw[0] !== TAG) fail("not a times object");
  const [, version, list] = raw as unknown[];
  if (version !== VERSION) fail(`unknown version ${String(version)}`);
  if (!Array.isArray(list)) fail("entries are not a list");
  const times: FileTimes = new Map();
  for (const item of list as unknown[]) {
    if (!Array.isArray(item) || item.length !== 2 || typeof item[0] !== "string" || !Number.isSafeInteger(item[1])) fail("bad entry");
    times.set((item as [string, number])[0], (item as [string, number])[1]);
  }
  return times;
}

/** Microseconds since the epoch, as times objects keep them, from a stat's `mtimeMs`. */
export const toMicros = (mtimeMs: number): number => Math.round(mtimeMs * 1000);

/**
 * The modification times of every file and symlink below `dir`, one listing per folder (the
 * listings a snapshot takes, without reading a file).
 */
export function collectTimes(dir: string): FileTimes {
  const times: FileTimes = new Map();
  addTimesBelow(times, dir, "");
  return times;
}

/** Adds the times of every file and symlink below `dir` to `times`, their paths under `rel` ("" for the root). */
export function addTimesBelow(times: FileTimes, dir: string, rel: string): void {
  for (const e of readListing(listDir(dir))) {
    const kind = entryKind(e.mode);
    const relPath = rel === "" ? e.name : `${rel}/${e.name}`;
    if (kind === S_IFDIR) addTimesBelow(times, `${dir}/${e.name}`, relPath);
    else if (kind === S_IFREG || kind === S_IFLNK) times.set(relPath, toMicros(e.mtimeMs));
  }
}
