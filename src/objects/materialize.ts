import { randomBytes } from "node:crypto";
import pLimit from "p-limit";
import { chmodSync, closeSync, fchmodSync, fstatSync, fsyncSync, futimesSync, lstatSync, lutimesSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync, type Stats } from "node:fs";
import { chmod, open, readlink, rename, symlink, unlink } from "node:fs/promises";
import { join, normalize } from "node:path";
import { badEntryName, treeId, type Tree, type TreeEntry } from "./codec.js";
import { hasRawBytes, osPath, printableName } from "./names.js";
import { CorruptObjectError, UnsafePathError } from "./errors.js";
import { availableParallelism } from "node:os";
import { listDir, readListing, writeFilesAsync } from "./dir-listing.js";
import { hashFile, type ObjectId } from "./ids.js";
import type { ObjectReader } from "./reader.js";
import type { FileProgress } from "./snapshot.js";
import type { CachedIds, FileIdCache, FileStamp } from "./file-id-cache.js";
import type { FileTimes } from "./times.js";
import { TreeBudget, type TreeLimits } from "./tree-limits.js";
import { NativeRestorer, restoreChunked, stampAt, type FileRestorer, type RestoredFiles } from "./restore-native.js";

export interface MaterializeOptions {
  onProgress?: (progress: FileProgress) => void;
  signal?: AbortSignal;
  /** Leave an existing file that differs from the tree as it is (an append-only log whose files are never replaced). */
  keepExisting?: boolean;
  /** fsync each file before renaming it into place (default true; false for a caller that syncs the whole batch itself). */
  fsync?: boolean;
  /** Answers "is this existing file identical?" without reading it, when its stamp matches. */
  cache?: FileIdCache;
  /** Bounds on the tree's expansion (default `DEFAULT_TREE_LIMITS`). */
  limits?: TreeLimits;
  /**
   * `destDir` does not exist yet and is the caller's private folder, renamed into place whole
   * once written (a pull's staging folder): files are written under their own names, without a
   * temporary name and a rename each.
   */
  staged?: boolean;
  /** Modification times to give files and symlinks, by their path below `destDir` ("a/b"). */
  times?: FileTimes;
  /** Told of each file written: its path below `destDir`, its stamp as written and its ids (a stat cache's row). */
  onWritten?: (relPath: string, stamp: FileStamp, ids: CachedIds) => void;
}

export interface MaterializeStats {
  files: number;
  dirs: number;
  symlinks: number;
  /** Files and links written. */
  written: number;
  /** Files already identical on disk, left untouched. */
  unchanged: number;
  /** Existing files that differ, kept because of `keepExisting`. */
  kept: number;
  bytesWritten: number;
}

/** Name prefix of files being written; the remotes backends use the same one. */
const TEMP_PREFIX = ".gage-tmp-";

interface Planned {
  path: string;
  /** The folder it is in (`path` without its name; one string shared by the folder's entries). */
  dir: string;
  /** Whether `dir` holds bytes that are not UTF-8 (a folder the addon is not told of by a string). */
  rawDir: boolean;
  /** The path below the destination ("a/b"). */
  rel: string;
  entry: TreeEntry;
  /** Its job, once the job is prepared (a field, not a map: looked up per file). */
  job: Prepared | undefined;
}

interface Plan {
  dirs: Planned[];
  files: Planned[];
  links: Planned[];
}

/**
 * Loads every tree below `root` and checks every name before anything touches the disk, counting
 * the expansion against `budget` (shared subtrees can make a few KB of trees name billions of paths).
 */
async function plan(reader: ObjectReader, root: Tree, destDir: string, budget: TreeBudget): Promise<Plan> {
  const out: Plan = { dirs: [], files: [], links: [] };
  let level: { path: string; raw: boolean; rel: string; relBytes: number; tree: Tree }[] = [{ path: destDir, raw: hasRawBytes(destDir), rel: "", relBytes: 0, tree: root }];
  for (let depth = 0; level.length > 0; depth++) {
    budget.depth(depth);
    // A whole level is counted before any of it is planned: memory stays within the budget.
    budget.entries(level.reduce((n, l) => n + l.tree.entries.length, 0));
    const next: (Planned & { relBytes: number })[] = [];
    for (const { path, raw, rel, relBytes, tree } of level) {
      for (const entry of tree.entries) {
        const bad = badEntryName(entry.name);
        if (bad !== undefined) throw new UnsafePathError(printableName(`${path}/${String(entry.name)}`), bad);
        // Names are single segments (checked above): a concatenation shares its parent's string,
        // where `join` built each path anew (a million entries took a GB).
        const p = { path: `${path}/${entry.name}`, dir: path, rawDir: raw, rel: rel === "" ? entry.name : `${rel}/${entry.name}`, relBytes: relBytes + 1 + Buffer.byteLength(entry.name), entry, job: undefined };
        budget.pathBytes(p.relBytes, p.path);
        if (entry.kind === "dir") {
          out.dirs.push(p);
          next.push(p);
        } else if (entry.kind === "symlink") out.links.push(p);
        else out.files.push(p);
      }
    }
    const trees = await reader.readTrees(next.map((n) => n.entry.id));
    level = next.map((n) => ({ path: n.path, raw: n.rawDir || hasRawBytes(n.entry.name), rel: n.rel, relBytes: n.relBytes, tree: trees.get(n.entry.id)! }));
  }
  return out;
}

/** Throws unless `path` is absent or a real directory (never a symlink: no writing through one). */
function checkDirPath(path: string): Stats | undefined {
  const st = lstatSync(osPath(path), { throwIfNoEntry: false });
  if (st === undefined) return undefined;
  if (st.isSymbolicLink()) throw new UnsafePathError(path, "is a symlink; refusing to write through it");
  if (!st.isDirectory()) throw new UnsafePathError(path, "exists and is not a directory");
  return st;
}

/** Checks the disk against the whole plan before anything is created or written. */
function checkDisk(p: Plan, destDir: string): void {
  checkDirPath(destDir);
  for (const d of p.dirs) checkDirPath(d.path);
  for (const f of [...p.files, ...p.links]) {
    if (lstatSync(osPath(f.path), { throwIfNoEntry: false })?.isDirectory()) {
      throw new UnsafePathError(f.path, `is a directory where the tree has a ${f.entry.kind}`);
    }
  }
}

/** Creates `path` as a real directory, refusing a symlink or a file in its place. */
function ensureDir(path: string): void {
  const st = checkDirPath(path);
  if (st === undefined) {
    mkdirSync(osPath(path), { mode: 0o755 });
    return;
  }
  // A read-only directory (as Gage leaves a run's meta folder) must take new entries; its mode is set last.
  if ((st.mode & 0o200) === 0) chmodSync(osPath(path), st.mode | 0o200);
}

// Temporary names: unique in this process by a counter, and across processes by a random part
// drawn once (a random draw per file was a measurable part of a clone of 80,000 files).
const tempStem = `${TEMP_PREFIX}${randomBytes(6).toString("hex")}-`;
let tempCount = 0;
const tempPath = (path: string) => join(path, "..", `${tempStem}${(tempCount++).toString(36)}`);

/**
 * `writeAtomically` for bytes already in memory, with synchronous calls: files are written one
 * after another anyway, and each of the six calls through the thread pool cost a round trip
 * (a clone of many small files spent nearly all its time waiting on them).
 */
function writeBytesAtomically(path: string, mode: number, fsync: boolean, data: Buffer, mtimeUs: number | undefined): FileStamp {
  const tmp = tempPath(path);
  const fd = openSync(osPath(tmp), "wx", 0o600);
  let stamp: FileStamp;
  try {
    try {
      for (let at = 0; at < data.length; ) at += writeSync(fd, data, at, data.length - at);
      fchmodSync(fd, mode);
      if (mtimeUs !== undefined) futimesSync(fd, seconds(mtimeUs), seconds(mtimeUs));
      if (fsync) fsyncSync(fd);
      stamp = stampOf(fstatSync(fd));
    } finally {
      closeSync(fd);
    }
    renameSync(osPath(tmp), osPath(path));
  } catch (err) {
    try {
      unlinkSync(osPath(tmp));
    } catch {
      // never created, or already renamed
    }
    throw err;
  }
  return stamp;
}

/** Seconds since the epoch, as utimes takes them, from a times object's microseconds. */
// Half a microsecond more: the conversion to a timespec truncates, and must not land below the microsecond.
const seconds = (us: number) => (us + 0.5) / 1e6;

const stampOf = (st: Stats): FileStamp => ({ size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino });

/**
 * A file written under its own name in a staging folder no one else knows (renamed into place
 * whole by the caller): open with its mode, write, set its time; no temporary name, rename or
 * chmod. With `stamp`, it is stamped (and its mode set, should a umask have taken bits away);
 * a whole tree is stamped a folder at a time instead (`stampStaged`).
 */
export function writeStaged(path: string, mode: number, fsync: boolean, data: Buffer, mtimeUs: number | undefined, stamp: true): FileStamp;
export function writeStaged(path: string, mode: number, fsync: boolean, data: Buffer, mtimeUs: number | undefined, stamp: false): undefined;
export function writeStaged(path: string, mode: number, fsync: boolean, data: Buffer, mtimeUs: number | undefined, stamp: boolean): FileStamp | undefined {
  const fd = openSync(osPath(path), "wx", mode);
  try {
    for (let at = 0; at < data.length; ) at += writeSync(fd, data, at, data.length - at);
    if (mtimeUs !== undefined) futimesSync(fd, seconds(mtimeUs), seconds(mtimeUs));
    if (fsync) fsyncSync(fd);
    if (!stamp) return undefined;
    let st = fstatSync(fd);
    if ((st.mode & 0o777) !== mode) {
      fchmodSync(fd, mode);
      st = fstatSync(fd);
    }
    return stampOf(st);
  } finally {
    closeSync(fd);
  }
}

// Chunked files written at once (each holds about 8 MiB of chunks in memory).
const LARGE_FILES_AT_ONCE = 3;

// A batch is handed to the addon's writer threads at this many bytes or files; two are in flight.
const BATCH_BYTES = 8 * 1024 * 1024;
const BATCH_FILES = 2048;
const BATCHES_IN_FLIGHT = 2;

/**
 * `writeStaged` for many files, written on the addon's threads while this one reads and verifies
 * the next objects (without the addon, here, one after another).
 */
class StagedWriter {
  #parts: Buffer[] = [];
  #bytes = 0;
  #count = 0;
  #inFlight: Promise<void>[] = [];
  readonly #fsync: boolean;
  readonly #threads = availableParallelism();

  constructor(fsync: boolean) {
    this.#fsync = fsync;
  }

  async add(path: string, mode: number, data: Buffer, mtimeUs: number | undefined): Promise<void> {
    if (writeFilesAsync === undefined) {
      writeStaged(path, mode, this.#fsync, data, mtimeUs, false);
      return;
    }
    const os = osPath(path);
    const name = typeof os === "string" ? Buffer.from(os, "utf8") : os;
    const head = Buffer.allocUnsafe(18 + name.length);
    head.writeUInt16LE(name.length, 0);
    name.copy(head, 2);
    head.writeUInt32LE(mode, 2 + name.length);
    head.writeDoubleLE(mtimeUs ?? -1, 6 + name.length);
    head.writeUInt32LE(data.length, 14 + name.length);
    this.#parts.push(head, data);
    this.#bytes += head.length + data.length;
    if (++this.#count >= BATCH_FILES || this.#bytes >= BATCH_BYTES) await this.#flush();
  }

  async #flush(): Promise<void> {
    if (this.#count === 0) return;
    const batch = Buffer.concat(this.#parts, this.#bytes);
    const job = writeFilesAsync!(batch, this.#count, this.#threads, this.#fsync);
    job.catch(() => undefined);
    this.#inFlight.push(job);
    this.#parts = [];
    this.#bytes = 0;
    this.#count = 0;
    if (this.#inFlight.length >= BATCHES_IN_FLIGHT) await this.#inFlight.shift();
  }

  /** Waits for every file added; the first failure is thrown once all have settled. */
  async finish(): Promise<void> {
    try {
      await this.#flush();
    } finally {
      const settled = await Promise.allSettled(this.#inFlight.splice(0));
      const failed = settled.find((r) => r.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
    }
  }
}

/**
 * Stamps the files `writeStaged` wrote below a staged tree, one listing per folder (a stat per
 * file through node cost more than writing it), and gives a file a umask narrowed its mode.
 */
function stampStaged(folders: readonly string[], written: ReadonlyMap<string, Planned>, job: MaterializeJob): void {
  for (const dir of folders) {
    for (const e of readListing(listDir(dir))) {
      const f = written.get(`${dir}/${e.name}`);
      if (f === undefined) continue;
      let stamp: FileStamp = e;
      if ((e.mode & 0o777) !== f.entry.mode) {
        chmodSync(osPath(f.path), f.entry.mode);
        stamp = stampOf(lstatSync(osPath(f.path)));
      }
      noteWritten(job, f.rel, { size: stamp.size, mtimeMs: stamp.mtimeMs, ctimeMs: stamp.ctimeMs, ino: stamp.ino }, { id: f.entry.id });
    }
  }
}

async function writeAtomically(path: string, mode: number, fsync: boolean, mtimeUs: number | undefined, fill: (write: (b: Buffer) => Promise<void>) => Promise<void>): Promise<FileStamp> {
  const tmp = tempPath(path);
  const fh = await open(osPath(tmp), "wx", 0o600);
  let stamp: FileStamp;
  try {
    try {
      await fill(async (b) => {
        await fh.write(b);
      });
      await fh.chmod(mode);
      if (mtimeUs !== undefined) await fh.utimes(seconds(mtimeUs), seconds(mtimeUs));
      if (fsync) await fh.sync();
      stamp = stampOf(await fh.stat());
    } finally {
      await fh.close();
    }
    await rename(osPath(tmp), osPath(path));
  } catch (err) {
    await unlink(osPath(tmp)).catch(() => undefined);
    throw err;
  }
  return stamp;
}

/** One tree of a `materializeTrees` call and where it goes. */
export interface MaterializeJob {
  tree: ObjectId | Tree;
  destDir: string;
  /** Modification times to give files and symlinks, by their path below `destDir` ("a/b"). */
  times?: FileTimes;
  /** Told of each file written: its path below `destDir`, its stamp as written and its ids (a stat cache's row). */
  onWritten?: (relPath: string, stamp: FileStamp, ids: CachedIds) => void;
  /** `onWritten` without an object per file (taken in its place): a stat cache's rows encoded as they come. */
  written?: WrittenFiles;
}

/** Told of each file written, as numbers and strings: no stamp or ids object per file. */
export interface WrittenFiles {
  /** File `rel` (its path below the job's `destDir`) was written with this stamp, from object `id` (in chunks listed by `chunks`). */
  note(rel: string, size: number, mtimeMs: number, ctimeMs: number, ino: number, id: ObjectId, chunks: ObjectId | undefined): void;
}

/** Tells `job` of a file written. */
function noteWritten(job: MaterializeJob, rel: string, stamp: FileStamp, ids: CachedIds): void {
  if (job.written !== undefined) job.written.note(rel, stamp.size, stamp.mtimeMs, stamp.ctimeMs, stamp.ino, ids.id, ids.chunks);
  else job.onWritten?.(rel, stamp, ids);
}

/** A job planned: its entries, and whether it is written as a staged folder. */
interface Prepared {
  job: MaterializeJob;
  /** `job.destDir`, normalized as the plan's paths start. */
  destDir: string;
  plan: Plan;
  staged: boolean;
  /** Files written by `writeStaged`, by path, stamped a folder at a time at the end. */
  stagedFiles: Map<string, Planned>;
}

/**
 * Writes a tree into `destDir`: every object verified before its file is renamed into place,
 * every name checked before anything is written, modes restored, identical files left untouched.
 * Entries on disk that the tree lacks are left alone.
 */
export async function materializeTree(
  reader: ObjectReader,
  tree: ObjectId | Tree,
  destDir: string,
  options: MaterializeOptions = {},
): Promise<MaterializeStats> {
  const { times, onWritten, ...rest } = options;
  return materializeTrees(reader, [{ tree, destDir, ...(times ? { times } : {}), ...(onWritten ? { onWritten } : {}) }], rest);
}

/** What one `materializeTrees` call shares between its steps. */
interface Run {
  reader: ObjectReader;
  options: Omit<MaterializeOptions, "times" | "onWritten">;
  fsync: boolean;
  stats: MaterializeStats;
  progress: (path: string, bytes: number) => void;
  /** Progress of many files at once (a batch written on native threads), ending at `path`. */
  progressMany: (files: number, bytes: number, path: string) => void;
  /** Each file and link to write (each with its job). */
  toWrite: Planned[];
  links: Planned[];
}

/**
 * `materializeTree` for many trees at once (a pull's batch of new runs): their objects are read
 * in one pass, so neighbours in a pack share reads whichever run they belong to.
 */
// Each step is a function of its own: one function of every loop took longer to optimize than to run.
export async function materializeTrees(
  reader: ObjectReader,
  jobs: readonly MaterializeJob[],
  options: Omit<MaterializeOptions, "times" | "onWritten"> = {},
): Promise<MaterializeStats> {
  const stats: MaterializeStats = { files: 0, dirs: 0, symlinks: 0, written: 0, unchanged: 0, kept: 0, bytesWritten: 0 };
  let doneFiles = 0;
  let doneBytes = 0;
  const progress = (path: string, bytes: number) => progressMany(1, bytes, path);
  const progressMany = (files: number, bytes: number, path: string) => {
    doneFiles += files;
    doneBytes += bytes;
    options.onProgress?.({ files: doneFiles, bytes: doneBytes, path });
  };
  const run: Run = { reader, options, fsync: options.fsync ?? true, stats, progress, progressMany, toWrite: [], links: [] };
  const prepared: Prepared[] = [];
  for (const job of jobs) prepared.push(await prepareJob(run, job));

  const writer = new StagedWriter(run.fsync);
  // New files of a staged tree are written by the addon's threads when the reader can (a local folder's packs, a Git pack).
  const written = restoredBatch(run);
  const restorer: FileRestorer<Planned> | undefined = reader.fileRestorer<Planned>(run.fsync, written) ?? NativeRestorer.for<Planned>(reader, run.fsync, written);
  const { native, byId } = assignWriters(run, restorer);
  try {
    if (restorer !== undefined) {
      await restoreNative(run, restorer, native);
      for (const f of await restorer.finish()) addTo(byId, f);
    }
    await writeFromReader(run, byId, writer);
  } catch (err) {
    // Nothing is cleaned up while the writer threads still write.
    await restorer?.settle().catch(() => undefined);
    await writer.finish().catch(() => undefined);
    throw err;
  }
  await writer.finish();
  await writeLarge(run);

  for (const { job, destDir, plan: p, stagedFiles } of prepared) {
    if (stagedFiles.size > 0) stampStaged([destDir, ...p.dirs.map((d) => d.path)], stagedFiles, job);
    // Deepest first, so a read-only directory is closed only after everything inside it is written.
    for (const d of [...p.dirs].reverse()) chmodSync(osPath(d.path), d.entry.mode);
  }
  return stats;
}

/** Plans a job, checks the disk against it, creates its folders and lists what it must write. */
async function prepareJob(run: Run, job: MaterializeJob): Promise<Prepared> {
  const { reader, options, stats } = run;
  const destDir = normalize(job.destDir).replace(/(.)\/+$/, "$1");
  const root = typeof job.tree === "string" ? await reader.readTree(job.tree) : job.tree;
  const p = await plan(reader, root, destDir, new TreeBudget(typeof job.tree === "string" ? job.tree : treeId(job.tree), options.limits));
  stats.files += p.files.length;
  stats.dirs += p.dirs.length;
  stats.symlinks += p.links.length;
  // A destination that does not exist yet (a clone's staging folder) holds nothing to check or
  // compare: every path below it is created here. That spared a clone an lstat per file, twice.
  const fresh = checkDirPath(destDir) === undefined;
  const ctx: Prepared = { job, destDir, plan: p, staged: fresh && options.staged === true, stagedFiles: new Map() };
  if (!fresh) checkDisk(p, destDir);
  // The destination's parents are the caller's (e.g. the runs directory): created if missing.
  if (fresh) mkdirSync(destDir, { recursive: true, mode: 0o755 });
  else ensureDir(destDir);
  for (const d of p.dirs) {
    if (fresh) mkdirSync(osPath(d.path), { mode: 0o755 });
    else ensureDir(d.path);
  }
  for (const f of p.links) {
    f.job = ctx;
    run.links.push(f);
  }
  if (fresh) {
    for (const f of p.files) {
      f.job = ctx;
      run.toWrite.push(f);
    }
  } else await compareExisting(run, ctx, p.files);
  return ctx;
}

/** Files of a destination that exists: those identical on disk are left, the rest written. */
async function compareExisting(run: Run, ctx: Prepared, files: readonly Planned[]): Promise<void> {
  const { options, stats, progress } = run;
  for (const f of files) {
    options.signal?.throwIfAborted();
    const state = await existingState(f, options.cache);
    if (state === "same") {
      if ((lstatSync(osPath(f.path)).mode & 0o777) !== f.entry.mode) await chmod(osPath(f.path), f.entry.mode);
      stats.unchanged++;
      progress(f.path, f.entry.size);
    } else if (state === "differs" && options.keepExisting) {
      stats.kept++;
      progress(f.path, 0);
    } else {
      f.job = ctx;
      run.toWrite.push(f);
    }
  }
}

function addTo(byId: Map<ObjectId, Planned[]>, f: Planned): void {
  const list = byId.get(f.entry.id);
  if (list === undefined) byId.set(f.entry.id, [f]);
  else list.push(f);
}

/** Files the restorer writes and where their objects lie (in step), and those the reader reads, by id. */
interface Writers {
  native: { files: Planned[]; locs: unknown[] };
  byId: Map<ObjectId, Planned[]>;
}

/** Which files the restorer writes (where their objects lie) and which the reader reads, by id. */
function assignWriters(run: Run, restorer: FileRestorer<Planned> | undefined): Writers {
  const native: Writers["native"] = { files: [], locs: [] };
  const byId = new Map<ObjectId, Planned[]>();
  for (const list of [run.toWrite, run.links]) {
    for (const f of list) {
      if (f.entry.chunks !== undefined) continue;
      const loc = restorer !== undefined && f.entry.kind === "file" && f.job!.staged && !f.rawDir ? restorer.locate(f.entry.id) : undefined;
      if (loc !== undefined) {
        native.files.push(f);
        native.locs.push(loc);
      } else addTo(byId, f);
    }
  }
  return { native, byId };
}

/** Queues the restorer's files: no promise or callback per file (a batch is reported at once). */
async function restoreNative(run: Run, restorer: FileRestorer<Planned>, native: Writers["native"]): Promise<void> {
  const { options } = run;
  for (let i = 0; i < native.files.length; i++) {
    const f = native.files[i]!;
    options.signal?.throwIfAborted();
    const full = restorer.add(f, f.dir, f.entry.name, f.entry.mode, f.entry.id, f.job!.job.times?.get(f.rel), native.locs[i], f.entry.size);
    if (full !== undefined) await full;
  }
}

/** Tells each file's job of a batch the restorer wrote, with its stamp (the stat cache's row), and counts it. */
function restoredBatch(run: Run): RestoredFiles<Planned> {
  return (files, stamps) => {
    if (files.length === 0) return;
    let bytes = 0;
    for (let i = 0; i < files.length; i++) {
      const f = files[i]!;
      const job = f.job!.job;
      const s = i * 4;
      if (job.written !== undefined) job.written.note(f.rel, stamps[s]!, stamps[s + 1]!, stamps[s + 2]!, stamps[s + 3]!, f.entry.id, undefined);
      else job.onWritten?.(f.rel, stampAt(stamps, i), { id: f.entry.id });
      bytes += f.entry.size;
    }
    run.stats.bytesWritten += bytes;
    run.stats.written += files.length;
    run.progressMany(files.length, bytes, files[files.length - 1]!.path);
  };
}

async function writeFromReader(run: Run, byId: Map<ObjectId, Planned[]>, writer: StagedWriter): Promise<void> {
  const { options, stats, progress } = run;
  for await (const { id, data } of run.reader.readMany(byId.keys())) {
    for (const f of byId.get(id)!) {
      // The tree's size is part of its id: one that lies about its content is refused.
      if (data.length !== f.entry.size) throw new CorruptObjectError(id, { reason: `${data.length} bytes where tree entry ${f.path} says ${f.entry.size}` });
      options.signal?.throwIfAborted();
      const ctx = f.job!;
      const mtimeUs = ctx.job.times?.get(f.rel);
      if (f.entry.kind === "symlink") await placeSymlink(f, data, options.keepExisting === true, stats, mtimeUs);
      else {
        if (ctx.staged) {
          await writer.add(f.path, f.entry.mode, data, mtimeUs);
          ctx.stagedFiles.set(f.path, f);
        } else {
          const stamp = writeBytesAtomically(f.path, f.entry.mode, run.fsync, data, mtimeUs);
          noteWritten(ctx.job, f.rel, stamp, { id: f.entry.id });
        }
        stats.bytesWritten += data.length;
        stats.written++;
      }
      progress(f.path, data.length);
    }
  }
}

/**
 * Large files a few at once: one's chunks are hashed here while another's are read and written
 * on the thread pool. After a failure no further file starts; those under way finish first.
 */
async function writeLarge(run: Run): Promise<void> {
  const { reader, options, stats, progress } = run;
  let failed: { err: unknown } | undefined;
  const limit = pLimit(LARGE_FILES_AT_ONCE);
  await Promise.all(
    run.toWrite
      .filter((f) => f.entry.chunks !== undefined)
      .map((f) =>
        limit(async () => {
          if (failed) return;
          try {
            options.signal?.throwIfAborted();
            const { job, staged } = f.job!;
            const mtimeUs = job.times?.get(f.rel);
            // A staged tree's file from a local folder's packs: written on an addon thread, its own name.
            const native = staged && !f.rawDir ? await restoreChunked(reader, run.fsync, { dir: f.dir, name: f.entry.name, mode: f.entry.mode, mtimeUs, id: f.entry.id, size: f.entry.size, chunks: f.entry.chunks! }) : undefined;
            const stamp =
              native ??
              (await writeAtomically(f.path, f.entry.mode, run.fsync, mtimeUs, async (write) => {
                for await (const piece of reader.readFile(f.entry)) await write(piece);
              }));
            noteWritten(job, f.rel, stamp, { id: f.entry.id, chunks: f.entry.chunks! });
            stats.bytesWritten += f.entry.size;
            stats.written++;
            progress(f.path, f.entry.size);
          } catch (err) {
            failed ??= { err };
          }
        }),
      ),
  );
  if (failed) throw failed.err;
}

async function existingState(f: Planned, cache: FileIdCache | undefined): Promise<"absent" | "same" | "differs"> {
  const st = lstatSync(osPath(f.path), { throwIfNoEntry: false });
  if (st === undefined) return "absent";
  if (st.isDirectory()) throw new UnsafePathError(f.path, "is a directory where the tree has a file");
  if (!st.isFile() || st.size !== f.entry.size) return "differs";
  const stamp = { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino };
  const id = cache?.lookup(f.path, stamp)?.id ?? (await hashFile(f.path));
  return id === f.entry.id ? "same" : "differs";
}

async function placeSymlink(f: Planned, target: Buffer, keepExisting: boolean, stats: MaterializeStats, mtimeUs: number | undefined): Promise<void> {
  const st = lstatSync(osPath(f.path), { throwIfNoEntry: false });
  if (st?.isDirectory()) throw new UnsafePathError(f.path, "is a directory where the tree has a symlink");
  if (st !== undefined) {
    if (st.isSymbolicLink() && (await readlink(osPath(f.path), { encoding: "buffer" })).equals(target)) {
      stats.unchanged++;
      return;
    }
    if (keepExisting) {
      stats.kept++;
      return;
    }
  }
  const tmp = tempPath(f.path);
  await symlink(target, osPath(tmp));
  try {
    if (mtimeUs !== undefined) lutimesSync(osPath(tmp), seconds(mtimeUs), seconds(mtimeUs));
    await rename(osPath(tmp), osPath(f.path));
  } catch (err) {
    await unlink(osPath(tmp)).catch(() => undefined);
    throw err;
  }
  stats.written++;
}
