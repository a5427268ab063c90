import { lstatSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { CorruptObjectError } from "../../objects/errors.js";
import { hashFile } from "../../objects/index.js";
import { EMPTY_TREE_OID, hashObject, parseTree, type GitObjectStore, type GitObjectType, type GitOid, type GitTreeEntry } from "../../remotes/git/objects.js";
import type { PackSpan } from "../../remotes/git/checkout-native.js";
import { lfsPointer } from "./lfs.js";
import { buildTree } from "./local-tree.js";
import { mergeTrees, type TreeMerge } from "./merge.js";
import type { GitSession } from "./session.js";

/** What the merge of one folder gives: the merged tree, or the paths both sides changed differently. */
export type FolderMerge = TreeMerge | { conflicts: string[] };

/**
 * The Git objects a merge of run folders reads and makes: the repository's, the trees of local
 * folders (hashed, never stored) with each file's blob read from the folder when asked for, and
 * the merged trees. A pull reads merged trees through it as it reads the branch's.
 */
export class MergeObjects {
  readonly #store: GitObjectStore;
  readonly #largeAt: number | undefined;
  readonly #trees = new Map<GitOid, Buffer>();
  readonly #local = new Map<GitOid, { path: string; link: boolean }>();

  constructor(store: GitObjectStore, largeAt: number | undefined) {
    this.#store = store;
    this.#largeAt = largeAt;
  }

  /**
   * Merges a local folder with the branch's tree of it file by file (`mergeTrees`), from `base`,
   * the tree both sides last held (passed over when the repository lacks it).
   */
  async merge(dir: string, theirs: GitOid, base: GitOid | undefined, prefix: string, preferOurs: boolean): Promise<FolderMerge> {
    const ours = await this.#addFolder(dir);
    const known = base !== undefined && (this.#trees.has(base) || (await this.#store.has(base))) ? base : undefined;
    const merged = await mergeTrees((oid, where) => this.readTree(oid, where), known, ours, theirs, prefix, preferOurs);
    if ("made" in merged) for (const [oid, data] of merged.made) this.#trees.set(oid, data);
    return merged;
  }

  /** The Git tree of a local folder; its trees are kept and its files found by their paths. */
  async #addFolder(dir: string): Promise<GitOid> {
    const trees = this.#trees;
    const collector = {
      write: async (type: GitObjectType, data: Buffer): Promise<GitOid> => {
        const oid = hashObject(type, data);
        if (type === "tree") trees.set(oid, data);
        return oid;
      },
    };
    const { oid } = await buildTree(dir, collector, { largeAt: this.#largeAt });
    const walk = (tree: GitOid, path: string) => {
      if (tree === EMPTY_TREE_OID) return;
      for (const e of parseTree(trees.get(tree)!, path)) {
        if (e.mode === "40000") walk(e.oid, join(path, e.name));
        else this.#local.set(e.oid, { path: join(path, e.name), link: e.mode === "120000" });
      }
    };
    walk(oid, dir);
    return oid;
  }

  async readTree(oid: GitOid, where: string): Promise<GitTreeEntry[]> {
    if (oid === EMPTY_TREE_OID) return [];
    const tree = this.#trees.get(oid);
    return tree === undefined ? this.#store.readTree(oid, where) : parseTree(tree, where);
  }

  /** A blob's size as its pack states it, and its entry (undefined for a local folder's blob: read whole). */
  blobEntry(oid: GitOid): { size: number; span: PackSpan } | undefined {
    return this.#local.has(oid) || this.#trees.has(oid) ? undefined : this.#store.blobEntry(oid);
  }

  /** The repository's objects in pack order (`GitObjectStore.readMany`), a local folder's one by one. */
  async *readMany(oids: Iterable<GitOid>, expected: GitObjectType, where: (oid: GitOid) => string): AsyncGenerator<{ oid: GitOid; data: Buffer }> {
    const stored: GitOid[] = [];
    for (const oid of oids) {
      if (this.#local.has(oid) || this.#trees.has(oid)) yield { oid, data: await this.read(oid, expected, where(oid)) };
      else stored.push(oid);
    }
    yield* this.#store.readMany(stored, expected, where);
  }

  /** A blob of a local folder is read from it again and checked: it may have changed since. */
  async read(oid: GitOid, expected: GitObjectType, where: string): Promise<Buffer> {
    const tree = this.#trees.get(oid);
    if (tree !== undefined && expected === "tree") return tree;
    const local = this.#local.get(oid);
    if (local === undefined || expected !== "blob") return this.#store.read(oid, expected, where);
    let data: Buffer;
    if (local.link) data = readlinkSync(local.path, { encoding: "buffer" });
    else {
      const size = lstatSync(local.path).size;
      data = this.#largeAt !== undefined && size >= this.#largeAt ? lfsPointer(await hashFile(local.path), size) : readFileSync(local.path);
    }
    if (hashObject("blob", data) !== oid) throw new CorruptObjectError(oid, { where: local.path, reason: "the file changed while it was merged" }, { hint: "Run the command again." });
    return data;
  }

  /** Stores the merged trees (a push commits them; the files' blobs are stored by its build). */
  async store(merge: TreeMerge): Promise<void> {
    for (const data of merge.made.values()) await this.#store.write("tree", data);
  }
}

/** The session's merge objects, made at its first merge. */
export function mergeObjects(s: GitSession): MergeObjects {
  return (s.merges ??= new MergeObjects(s.repo.objects, s.largeAt));
}
