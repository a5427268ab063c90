import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  MemoryObjectStorage,
  ObjectReader,
  PackWriter,
  snapshotDir,
  type ChunkingParams,
  type SnapshotOptions,
} from "../../src/objects/index.js";

/** Tiny chunks, so property tests cross the chunking threshold with small files. */
export const SMALL_CHUNKS: ChunkingParams = { minSize: 64, avgSize: 256, maxSize: 1024, threshold: 512 };

export type Node =
  | { kind: "file"; data: Uint8Array; mode: number }
  | { kind: "symlink"; target: string }
  | { kind: "dir"; mode: number; children: Map<string, Node> };

/** Writes `node`'s children into the existing directory `dir`; directory modes are set last. */
export function writeNode(dir: string, node: Extract<Node, { kind: "dir" }>): void {
  for (const [name, child] of node.children) {
    const path = join(dir, name);
    if (child.kind === "file") {
      writeFileSync(path, child.data);
      chmodSync(path, child.mode);
    } else if (child.kind === "symlink") {
      symlinkSync(child.target, path);
    } else {
      mkdirSync(path);
      writeNode(path, child);
      chmodSync(path, child.mode);
    }
  }
}

/** What `describe` makes of a directory: its permission bits, and each entry under `/NAME`. */
export interface DirDescription {
  mode: number;
  [entry: `/${string}`]: Description;
}

export type Description = { link: string } | { mode: number; data: string } | DirDescription;

/** A directory's content as a plain value: names, kinds, permission bits, bytes, link targets. */
export function describe(path: string): Description {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return { link: readlinkSync(path) };
  if (st.isFile()) return { mode: st.mode & 0o777, data: readFileSync(path).toString("base64") };
  return describeDir(path);
}

/** `describe` for a path that must be a directory (a tree's root). */
export function describeDir(path: string): DirDescription {
  const out: DirDescription = { mode: lstatSync(path).mode & 0o777 };
  for (const name of readdirSync(path).sort()) out[`/${name}`] = describe(join(path, name));
  return out;
}

/** Snapshots `dir` into a fresh in-memory store and returns the store, a reader and the tree id. */
export async function storeDir(dir: string, options: Omit<SnapshotOptions, "sink"> & { packSize?: number } = {}) {
  const storage = new MemoryObjectStorage();
  const writer = new PackWriter(storage, { packSize: options.packSize ?? 4096 });
  const { treeId, stats } = await snapshotDir(dir, { ...options, sink: writer });
  const packs = await writer.flush();
  const reader = await ObjectReader.open(storage);
  return { storage, reader, treeId, stats, packs };
}
