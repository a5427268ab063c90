import { lstatSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { decodeName, encodeName, hasRawBytes, osPath } from "./names.js";

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
type SyncFs = (path: string) => void;
type WriteFilesAsync = (batch: Buffer, count: number, threads: number, fsync: boolean) => Promise<void>;
type RestoreFilesAsync = (packs: readonly string[], dirs: readonly string[], jobs: Buffer, count: number, threads: number, fsync: boolean, stamps: Float64Array) => Promise<void>;
type GitCheckoutAsync = (pack: string, jobs: Buffer, count: number, threads: number, fsync: boolean, stamps: Float64Array, sums: Buffer) => Promise<void>;
type GitInflateSync = (input: Buffer, size: number) => Buffer | undefined;
type CdcCuts = (buf: Uint8Array, end: number, final: boolean, gear: Int32Array, params: Uint32Array, cuts: Uint32Array) => number;
type Sums = [Buffer, (Error | null | undefined)[]];
type DigestTrees = (roots: readonly string[], threads: number) => Sums;
type DigestTreesAsync = (roots: readonly string[], threads: number, stop?: Int32Array) => Promise<Sums>;

/** The same listing through `fs` (when the addon is not built, or `GAGE_NATIVE=0`). */
export function listDirJs(path: string | Buffer): Buffer {
  // Names as bytes, as the addon reads them: one that is not UTF-8 is listed as it is, not lost.
  const names = readdirSync(path, { encoding: "buffer" }).sort(Buffer.compare);
  const prefix = Buffer.concat([Buffer.from(path), Buffer.from("/")]);
  const rows: Buffer[] = [];
  let total = 0;
  for (const name of names) {
    const st = lstatSync(Buffer.concat([prefix, name]), { throwIfNoEntry: false });
    if (st === undefined) continue;
    const nameLength = name.length;
    const row = Buffer.allocUnsafe(LISTING_HEADER + nameLength);
    const dir = st.isDirectory();
    row.writeUInt16LE(nameLength, 0);
    row.writeUInt32LE(st.mode, 2);
    row.writeDoubleLE(dir ? 0 : st.size, 6);
    row.writeDoubleLE(dir ? 0 : st.mtimeMs, 14);
    row.writeDoubleLE(dir ? 0 : st.ctimeMs, 22);
    row.writeDoubleLE(dir ? 0 : st.ino, 30);
    name.copy(row, LISTING_HEADER);
    rows.push(row);
    total += row.length;
  }
  return Buffer.concat(rows, total);
}

interface Addon {
  listDir: ListDir;
  digestTrees: DigestTrees;
  digestTreesAsync: DigestTreesAsync;
  /** Absent from an addon built by an earlier release. */
  syncFs?: SyncFs;
  writeFilesAsync?: WriteFilesAsync;
  restoreFilesAsync?: RestoreFilesAsync;
  gitCheckoutAsync?: GitCheckoutAsync;
  gitInflateSync?: GitInflateSync;
  restoreChunkedAsync?: RestoreFilesAsync;
  cdcCuts?: CdcCuts;
}

function loadNative(): Addon | undefined {
  if (process.env.GAGE_NATIVE === "0") return undefined;
  try {
    return createRequire(import.meta.url)("../../native/build/Release/gage_dir_listing.node") as Addon;
  } catch {
    return undefined;
  }
}

const addon = loadNative();

/** The addon's listing, when it was built (`npm install` builds it where a C compiler is). */
export const listDirNative: ListDir | undefined = addon?.listDir;

/** syncfs(2) of the filesystem holding a path, when the addon is built. */
export const syncFs: SyncFs | undefined = addon?.syncFs;

/** Writes a batch of new files on several threads (native/dir_listing.c says the batch's layout), when the addon is built. */
export const writeFilesAsync: WriteFilesAsync | undefined = addon?.writeFilesAsync;

/** Writes new files from ranges of local pack files on several threads, each verified first (native/restore.c), when the addon is built. */
export const restoreFilesAsync: RestoreFilesAsync | undefined = addon?.restoreFilesAsync;

/** Writes new files from whole blob entries of a Git pack on several threads, each checked first (native/git_checkout.c). */
export const gitCheckoutAsync: GitCheckoutAsync | undefined = addon?.gitCheckoutAsync;

/** Inflates one zlib stream to exactly `size` bytes (undefined when it does not), with a stream kept per thread (native/git_checkout.c). */
export const gitInflateSync: GitInflateSync | undefined = addon?.gitInflateSync;
/** Writes new files from their chunks in local pack files, each chunk and the whole verified (native/restore.c), when the addon is built. */
export const restoreChunkedAsync: RestoreFilesAsync | undefined = addon?.restoreChunkedAsync;

/** Content-defined cuts of a block, as chunker.ts's `cutBlock` makes them (native/cdc.c), when the addon is built. */
export const cdcCuts: CdcCuts | undefined = addon?.cdcCuts;

/** Whether the addon is in use: scans then sum whole folders on every core (`digestTrees`). */
export const nativeListing = addon !== undefined;

/** A folder's whole tree, as `digestTrees` sums it up. */
export interface TreeSum {
  /**
   * SHA-256 (hex) over every listing in the tree, depth first in name order, each as
   * [path relative to the root] NUL [listing length, decimal] NUL [listing].
   */
  digest: string;
  files: number;
  symlinks: number;
  /** Bytes of files and link targets. */
  bytes: number;
  /** Folders, the root among them. */
  dirs: number;
  /** Sockets, fifos and devices. */
  skipped: number;
  /** The latest mtime or ctime of a file or link in the tree (ms). */
  newest: number;
}

/** Folders' sums looked up by path (`undefined`: a folder not summed up). */
export interface TreeSumLookup {
  get(path: string): TreeSum | Error | undefined;
}

/**
 * Root folders as `digestTrees` summed them up, in the order given. The sums stay in the addon's
 * buffer (every digest, then every root's six counts) until asked for: a push that compares
 * thousands of folders' digests with its rows makes no object, nor hex string, per folder.
 */
export class TreeSums implements TreeSumLookup {
  readonly roots: readonly string[];
  readonly #digests: Buffer;
  readonly #counts: Float64Array;
  readonly #errors: readonly (Error | null | undefined)[];
  #index: Map<string, number> | undefined;
  /** Every digest as latin1, decoded at the first `digestKey`: one decode, not one per key. */
  #digestText: string | undefined;

  constructor(roots: readonly string[], [sums, errors]: Sums) {
    this.roots = roots;
    const n = roots.length;
    this.#digests = sums.subarray(0, 32 * n);
    const counts = sums.subarray(32 * n, 80 * n);
    this.#counts =
      counts.byteOffset % 8 === 0 ? new Float64Array(counts.buffer, counts.byteOffset, 6 * n) : new Float64Array(Uint8Array.from(counts).buffer);
    this.#errors = errors;
  }

  /** The Error listing root `i` gave, or `undefined`. */
  error(i: number): Error | undefined {
    return this.#errors[i] ?? undefined;
  }

  /**
   * The digests of roots `from` to `to` (excluded) as latin1 characters, 32 each: a compact key
   * for several folders at once. A root that gave an Error reads as zeros.
   */
  digestKey(from: number, to: number): string {
    this.#digestText ??= this.#digests.toString("latin1");
    return this.#digestText.slice(32 * from, 32 * to);
  }

  /** Root `i`'s files and links. */
  files(i: number): number {
    return this.#counts[6 * i]! + this.#counts[6 * i + 1]!;
  }

  /** Root `i`'s bytes (as `TreeSum.bytes`). */
  bytes(i: number): number {
    return this.#counts[6 * i + 2]!;
  }

  /** Root `i`'s newest change (as `TreeSum.newest`). */
  newest(i: number): number {
    return this.#counts[6 * i + 5]!;
  }

  /** Root `i`'s sum, or the Error listing it gave. */
  at(i: number): TreeSum | Error {
    const error = this.#errors[i];
    if (error) return error;
    const c = this.#counts;
    return {
      digest: this.#digests.toString("hex", 32 * i, 32 * i + 32),
      files: c[6 * i]!,
      symlinks: c[6 * i + 1]!,
      bytes: c[6 * i + 2]!,
      dirs: c[6 * i + 3]!,
      skipped: c[6 * i + 4]!,
      newest: c[6 * i + 5]!,
    };
  }

  get(path: string): TreeSum | Error | undefined {
    if (this.#index === undefined) {
      this.#index = new Map();
      this.roots.forEach((root, i) => this.#index!.set(root, i));
    }
    const i = this.#index.get(path);
    return i === undefined ? undefined : this.at(i);
  }
}

/**
 * Sums up each root folder's tree on `threads` threads (the addon; `undefined` without it): a
 * no-change scan then costs one stat-cache lookup per run folder, its system calls run in
 * parallel, and no listing reaches JavaScript. A root whose tree could not be listed has the
 * Error it gave (a walk then reports it, or finds the folder absent).
 */
export function digestTrees(roots: readonly string[], threads: number): TreeSums | undefined {
  return addon === undefined ? undefined : new TreeSums(roots, addon.digestTrees(roots, threads));
}

/**
 * `digestTrees` on other threads: the calling one reads caches and lists a remote meanwhile.
 * `undefined` without the addon. `stop` (an Int32Array on shared memory): once its first element
 * is set, the roots not yet begun are left, each with an ECANCELED error.
 */
export function digestTreesAsync(roots: readonly string[], threads: number, stop?: Int32Array): Promise<TreeSums> | undefined {
  return addon === undefined ? undefined : addon.digestTreesAsync(roots, threads, stop).then((sums) => new TreeSums(roots, sums));
}

/** Lists a directory: through the addon when it is built, else (or for a path the addon cannot take: not UTF-8) through `fs`. */
export const listDir: ListDir = listDirNative === undefined ? (path) => listDirJs(osPath(path)) : (path) => (hasRawBytes(path) ? listDirJs(encodeName(path)) : listDirNative!(path));

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
export const mtimeAt = (listing: Buffer, p: number) => listing.readDoubleLE(p + 14);
export const nameAt = (listing: Buffer, p: number) => decodeName(listing.subarray(p + LISTING_HEADER, entryEnd(listing, p)));

/** The entries of a listing, in order. */
export function readListing(listing: Buffer): ListingEntry[] {
  const entries: ListingEntry[] = [];
  for (let p = 0; p < listing.length; ) {
    const end = p + LISTING_HEADER + listing.readUInt16LE(p);
    entries.push({
      name: decodeName(listing.subarray(p + LISTING_HEADER, end)),
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
