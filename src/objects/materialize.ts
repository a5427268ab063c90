import { randomBytes } from "node:crypto";
import { chmodSync, closeSync, fchmodSync, fsyncSync, lstatSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync, type Stats } from "node:fs";
import { chmod, open, readlink, rename, symlink, unlink } from "node:fs/promises";
import { join, normalize } from "node:path";
import { badEntryName, treeId, type Tree, type TreeEntry } from "./codec.js";
import { osPath, printableName } from "./names.js";
import { CorruptObjectError, UnsafePathError } from "./errors.js";
import { hashFile, type ObjectId } from "./ids.js";
import type { ObjectReader } from "./reader.js";
import type { FileProgress } from "./snapshot.js";
import type { FileIdCache } from "./file-id-cache.js";
import { TreeBudget, type TreeLimits } from "./tree-limits.js";

export interface MaterializeOptions {
  onProgress?: (progress: FileProgress) => void;
  signal?: AbortSignal;
  /** Leave an existing file that differs from the tree as it is (an append-only log whose files are never replaced). */
  keepExisting?: boolean;
  /** fsync each file before renaming it into place (default true). */
  fsync?: boolean;
  /** Answers "is this existing file identical?" without reading it, when its stamp matches. */
  cache?: FileIdCache;
  /** Bounds on the tree's expansion (default `DEFAULT_TREE_LIMITS`). */
  limits?: TreeLimits;
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
  entry: TreeEntry;
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
  let level: { path: string; relBytes: number; tree: Tree }[] = [{ path: destDir, relBytes: 0, tree: root }];
  for (let depth = 0; level.length > 0; depth++) {
    budget.depth(depth);
    // A whole level is counted before any of it is planned: memory stays within the budget.
    budget.entries(level.reduce((n, l) => n + l.tree.entries.length, 0));
    const next: { path: string; relBytes: number; entry: TreeEntry }[] = [];
    for (const { path, relBytes, tree } of level) {
      for (const entry of tree.entries) {
        const bad = badEntryName(entry.name);
        if (bad !== undefined) throw new UnsafePathError(printableName(`${path}/${String(entry.name)}`), bad);
        // Names are single segments (checked above): a concatenation shares its parent's string,
        // where `join` built each path anew (a million entries took a GB).
        const p = { path: `${path}/${entry.name}`, relBytes: relBytes + 1 + Buffer.byteLength(entry.name), entry };
        budget.pathBytes(p.relBytes, p.path);
        if (entry.kind === "dir") {
          out.dirs.push(p);
          next.push(p);
        } else if (entry.kind === "symlink") out.links.push(p);
        else out.files.push(p);
      }
    }
    const trees = await reader.readTrees(next.map((n) => n.entry.id));
    level = next.map((n) => ({ path: n.path, relBytes: n.relBytes, tree: trees.get(n.entry.id)! }));
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
function writeBytesAtomically(path: string, mode: number, fsync: boolean, data: Buffer): number {
  const tmp = tempPath(path);
  const fd = openSync(osPath(tmp), "wx", 0o600);
  try {
    try {
      for (let at = 0; at < data.length; ) at += writeSync(fd, data, at, data.length - at);
      fchmodSync(fd, mode);
      if (fsync) fsyncSync(fd);
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
  return data.length;
}

async function writeAtomically(path: string, mode: number, fsync: boolean, fill: (write: (b: Buffer) => Promise<void>) => Promise<void>): Promise<number> {
  const tmp = tempPath(path);
  const fh = await open(osPath(tmp), "wx", 0o600);
  let bytes = 0;
  try {
    try {
      await fill(async (b) => {
        await fh.write(b);
        bytes += b.length;
      });
      await fh.chmod(mode);
      if (fsync) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(osPath(tmp), osPath(path));
  } catch (err) {
    await unlink(osPath(tmp)).catch(() => undefined);
    throw err;
  }
  return bytes;
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
  const root = typeof tree === "string" ? await reader.readTree(tree) : tree;
  destDir = normalize(destDir).replace(/(.)\/+$/, "$1");
  const p = await plan(reader, root, destDir, new TreeBudget(typeof tree === "string" ? tree : treeId(tree), options.limits));
  const fsync = options.fsync ?? true;
  const stats: MaterializeStats = { files: p.files.length, dirs: p.dirs.length, symlinks: p.links.length, written: 0, unchanged: 0, kept: 0, bytesWritten: 0 };
  let doneFiles = 0;
  let doneBytes = 0;
  const progress = (path: string, bytes: number) => {
    doneFiles++;
    doneBytes += bytes;
    options.onProgress?.({ files: doneFiles, bytes: doneBytes, path });
  };

  // A destination that does not exist yet (a clone's staging folder) holds nothing to check or
  // compare: every path below it is created here. That spared a clone an lstat per file, twice.
  const fresh = checkDirPath(destDir) === undefined;
  if (!fresh) checkDisk(p, destDir);
  // The destination's parents are the caller's (e.g. the runs directory): created if missing.
  if (fresh) mkdirSync(destDir, { recursive: true, mode: 0o755 });
  ensureDir(destDir);
  for (const d of p.dirs) {
    if (fresh) mkdirSync(osPath(d.path), { mode: 0o755 });
    else ensureDir(d.path);
  }

  const toWrite: Planned[] = [];
  for (const f of p.files) {
    options.signal?.throwIfAborted();
    const state = fresh ? "absent" : await existingState(f, options.cache);
    if (state === "same") {
      if ((lstatSync(osPath(f.path)).mode & 0o777) !== f.entry.mode) await chmod(osPath(f.path), f.entry.mode);
      stats.unchanged++;
      progress(f.path, f.entry.size);
    } else if (state === "differs" && options.keepExisting) {
      stats.kept++;
      progress(f.path, 0);
    } else {
      toWrite.push(f);
    }
  }

  const whole = toWrite.filter((f) => f.entry.chunks === undefined);
  const byId = new Map<ObjectId, Planned[]>();
  for (const f of [...whole, ...p.links]) {
    const list = byId.get(f.entry.id);
    if (list === undefined) byId.set(f.entry.id, [f]);
    else list.push(f);
  }
  for await (const { id, data } of reader.readMany(byId.keys())) {
    for (const f of byId.get(id)!) {
      // The tree's size is part of its id: one that lies about its content is refused.
      if (data.length !== f.entry.size) throw new CorruptObjectError(id, { reason: `${data.length} bytes where tree entry ${f.path} says ${f.entry.size}` });
      options.signal?.throwIfAborted();
      if (f.entry.kind === "symlink") await placeSymlink(f, data, options.keepExisting === true, stats);
      else {
        stats.bytesWritten += writeBytesAtomically(f.path, f.entry.mode, fsync, data);
        stats.written++;
      }
      progress(f.path, data.length);
    }
  }

  for (const f of toWrite) {
    if (f.entry.chunks === undefined) continue;
    options.signal?.throwIfAborted();
    stats.bytesWritten += await writeAtomically(f.path, f.entry.mode, fsync, async (write) => {
      for await (const piece of reader.readFile(f.entry)) await write(piece);
    });
    stats.written++;
    progress(f.path, f.entry.size);
  }

  // Deepest first, so a read-only directory is closed only after everything inside it is written.
  for (const d of [...p.dirs].reverse()) chmodSync(osPath(d.path), d.entry.mode);
  return stats;
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

async function placeSymlink(f: Planned, target: Buffer, keepExisting: boolean, stats: MaterializeStats): Promise<void> {
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
    await rename(osPath(tmp), osPath(f.path));
  } catch (err) {
    await unlink(osPath(tmp)).catch(() => undefined);
    throw err;
  }
  stats.written++;
}
