import { lstatSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { compareNames } from "./codec.js";

// A directory listing: every entry (but `.` and `..`) with its lstat fields, sorted by the UTF-8
// bytes of its name, as one buffer. Entry: [name length u16 LE][mode u32 LE][size, mtimeMs,
// ctimeMs, ino: f64 LE][name utf8]. A directory's own size and stamps are written as 0 (they
// change whenever an entry comes or goes, which its own listing already says). An entry removed
// between the read and its lstat is left out.
//
// The bytes are the input of a directory's stat-cache signature, so both producers below must
// write the same bytes for the same directory: native/dir_listing.c (one fstatat per entry, built
// at install when a compiler is there) and `listDirJs`.
export const LISTING_HEADER = 38;

const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

type ListDir = (path: string) => Buffer;
/** Many directories at once on `threads` threads: each a listing, or the Error `listDir` would throw. */
type ListDirs = (paths: readonly string[], threads: number) => (Buffer | Error)[];

/** The same listing through `fs` (when the addon is not built, or `GAGE_NATIVE=0`). */
export function listDirJs(path: string): Buffer {
  const names = readdirSync(path).sort(compareNames);
  const rows: Buffer[] = [];
  let total = 0;
  for (const name of names) {
    const st = lstatSync(`${path}/${name}`, { throwIfNoEntry: false });
    if (st === undefined) continue;
    const nameLength = Buffer.byteLength(name, "utf8");
    const row = Buffer.allocUnsafe(LISTING_HEADER + nameLength);
    const dir = st.isDirectory();
    row.writeUInt16LE(nameLength, 0);
    row.writeUInt32LE(st.mode, 2);
    row.writeDoubleLE(dir ? 0 : st.size, 6);
    row.writeDoubleLE(dir ? 0 : st.mtimeMs, 14);
    row.writeDoubleLE(dir ? 0 : st.ctimeMs, 22);
    row.writeDoubleLE(dir ? 0 : st.ino, 30);
    row.write(name, LISTING_HEADER, "utf8");
    rows.push(row);
    total += row.length;
  }
  return Buffer.concat(rows, total);
}

function loadNative(): { listDir: ListDir; listDirs: ListDirs } | undefined {
  if (process.env.GAGE_NATIVE === "0") return undefined;
  try {
    return createRequire(import.meta.url)("../../native/build/Release/gage_dir_listing.node") as { listDir: ListDir; listDirs: ListDirs };
  } catch {
    return undefined;
  }
}

const addon = loadNative();

/** The addon's listing, when it was built (`npm install` builds it where a C compiler is). */
export const listDirNative: ListDir | undefined = addon?.listDir;

/** Listings ahead of a walk: path → listing, or the Error listing it gave. */
export type Listings = ReadonlyMap<string, Buffer | Error>;

/**
 * Lists `roots` and every directory below them, a level at a time, each level on `threads`
 * threads (the addon's listDirs; without the addon, nothing is listed ahead). A scan's system
 * calls then run in parallel while its JavaScript stays on one thread, which on two cores was
 * faster than worker threads walking apart.
 */
export function listTrees(roots: readonly string[], threads: number): Listings | undefined {
  if (addon === undefined) return undefined;
  const out = new Map<string, Buffer | Error>();
  for (let level = roots; level.length > 0; ) {
    const listed = addon.listDirs(level, threads);
    const next: string[] = [];
    listed.forEach((listing, i) => {
      const path = level[i]!;
      out.set(path, listing);
      if (listing instanceof Error) return;
      for (let p = 0; p < listing.length; p = entryEnd(listing, p)) {
        if (entryKind(modeAt(listing, p)) === S_IFDIR) next.push(`${path}/${nameAt(listing, p)}`);
      }
    });
    level = next;
  }
  return out;
}

/** Lists a directory: through the addon when it is built, else through `fs`. */
export const listDir: ListDir = listDirNative ?? listDirJs;

/** One entry of a listing, read in place. */
export interface ListingEntry {
  name: string;
  /** The raw `st_mode` (kind and permission bits). */
  mode: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

export const entryKind = (mode: number) => mode & S_IFMT;

// Reading one field of the entry at byte `p`: a no-change walk decodes only what it needs.
export const entryEnd = (listing: Buffer, p: number) => p + LISTING_HEADER + listing.readUInt16LE(p);
export const modeAt = (listing: Buffer, p: number) => listing.readUInt32LE(p + 2);
export const sizeAt = (listing: Buffer, p: number) => listing.readDoubleLE(p + 6);
export const nameAt = (listing: Buffer, p: number) => listing.toString("utf8", p + LISTING_HEADER, entryEnd(listing, p));

/** The entries of a listing, in order. */
export function readListing(listing: Buffer): ListingEntry[] {
  const entries: ListingEntry[] = [];
  for (let p = 0; p < listing.length; ) {
    const end = p + LISTING_HEADER + listing.readUInt16LE(p);
    entries.push({
      name: listing.toString("utf8", p + LISTING_HEADER, end),
      mode: listing.readUInt32LE(p + 2),
      size: listing.readDoubleLE(p + 6),
      mtimeMs: listing.readDoubleLE(p + 14),
      ctimeMs: listing.readDoubleLE(p + 22),
      ino: listing.readDoubleLE(p + 30),
    });
    p = end;
  }
  return entries;
}
