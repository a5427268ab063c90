import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { hashFile } from "../../objects/index.js";
import { lfsPointer } from "./lfs.js";
import { EMPTY_TREE_OID, encodeTree, hashObject, type GitObjectStore, type GitOid, type GitTreeEntry } from "../../remotes/git/objects.js";

export interface BuiltTree {
  /** `EMPTY_TREE_OID` for a folder that is missing or holds no file (Git keeps no empty folder). */
  oid: GitOid;
  files: number;
  bytes: number;
  symlinks: number;
}

/**
 * The Git tree of a local folder: files as blobs (executable bit kept, as Git keeps only that),
 * symlinks as links (their target, never followed), other kinds left out. With `store`, every
 * object is written there; without, only hashed. Files are read whole: none reaches
 * `max_file_size` (those become LFS pointers, or the push stopped first), so memory stays bounded.
 */
export interface BuildOptions {
  onFile?: (bytes: number) => void;
  /** Files of at least this many bytes become LFS pointers (`lfs` set); `onLarge` gets each. */
  largeAt?: number | undefined;
  onLarge?: (path: string, oid: string, size: number) => void;
}

export async function buildTree(dir: string, store: Pick<GitObjectStore, "write"> | undefined, opts: BuildOptions = {}): Promise<BuiltTree> {
  const out: BuiltTree = { oid: EMPTY_TREE_OID, files: 0, bytes: 0, symlinks: 0 };
  const walk = async (path: string): Promise<GitOid> => {
    let names: string[];
    try {
      names = readdirSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return EMPTY_TREE_OID;
      throw err;
    }
    const entries: GitTreeEntry[] = [];
    for (const name of names) {
      const p = join(path, name);
      const st = lstatSync(p);
      let entry: GitTreeEntry | undefined;
      if (st.isDirectory()) {
        const oid = await walk(p);
        if (oid !== EMPTY_TREE_OID) entry = { mode: "40000", name, oid };
      } else if (st.isFile()) {
        const mode = st.mode & 0o100 ? "100755" : "100644";
        if (opts.largeAt !== undefined && st.size >= opts.largeAt) {
          const id = await hashFile(p);
          entry = { mode, name, oid: await put(store, "blob", lfsPointer(id, st.size)) };
          opts.onLarge?.(p, id, st.size);
        } else entry = { mode, name, oid: await put(store, "blob", readFileSync(p)) };
        out.files++;
        out.bytes += st.size;
        opts.onFile?.(st.size);
      } else if (st.isSymbolicLink()) {
        entry = { mode: "120000", name, oid: await put(store, "blob", readlinkSync(p, { encoding: "buffer" })) };
        out.symlinks++;
      }
      if (entry) entries.push(entry);
    }
    return entries.length === 0 ? EMPTY_TREE_OID : put(store, "tree", encodeTree(entries));
  };
  out.oid = await walk(dir);
  return out;
}

async function put(store: Pick<GitObjectStore, "write"> | undefined, type: "blob" | "tree", data: Buffer): Promise<GitOid> {
  return store === undefined ? hashObject(type, data) : store.write(type, data);
}

/** Files under `dirs` of at least `limit` bytes, with their sizes (symlinks not followed). */
export function largeFiles(dirs: readonly string[], limit: number): { path: string; size: number }[] {
  const found: { path: string; size: number }[] = [];
  const walk = (path: string) => {
    let names: string[];
    try {
      names = readdirSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    for (const name of names) {
      const p = join(path, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && st.size >= limit) found.push({ path: p, size: st.size });
    }
  };
  for (const dir of dirs) walk(dir);
  return found;
}
