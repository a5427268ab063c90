import { compareNames, hashBytes, MemoryObjectStorage, ObjectReader, PackIndex, treeId, type FileRestorer, type ObjectId, type RestoredFiles, type Tree, type TreeEntry } from "../../objects/index.js";
import { GitPackCheckout, MAX_CHECKOUT_BLOB, type PackSpan } from "../../remotes/git/checkout-native.js";
import type { GitObjectStore, GitOid } from "../../remotes/git/objects.js";
import { MAX_POINTER, MIN_POINTER, parseLfsPointer, type LfsStore } from "./lfs.js";

/** Git keeps only the executable bit; the rest is what Gage leaves. */
function fileMode(gitMode: string, readOnly: boolean): number {
  const exec = gitMode === "100755" ? 0o111 : 0;
  return readOnly ? 0o444 | (exec & 0o555) : 0o644 | exec;
}

/** Stand-in ids are the Git id after this prefix (no SHA-256 of real bytes starts with 24 zeros). */
const STAND_IN_PREFIX = "0".repeat(24);
/** Trees with stand-ins below them are named as their Git tree after one of these. */
const LAZY_WRITABLE = `${"0".repeat(23)}1`;
const LAZY_READ_ONLY = `${"0".repeat(23)}2`;

/** Blob bytes kept between planning (which reads every blob for its size and id) and writing. */
const KEPT_BYTES = 64 * 1024 * 1024;

/**
 * Git trees read as our trees (src/objects), so that `materializeTree` writes them with every
 * check it makes: each Git tree is parsed with its names checked, each blob read, checked against
 * its Git id and given our file id (its SHA-256), and modes become what Gage leaves (Git keeps
 * only the executable bit): a finished run's files read-only, an unfinished run's writable.
 */
export class GitTreeReader extends ObjectReader {
  readonly #store: Pick<GitObjectStore, "read" | "readTree" | "blobEntry" | "readMany">;
  readonly #trees = new Map<ObjectId, Tree>();
  readonly #blobs = new Map<ObjectId, { oid: GitOid; data: Buffer | undefined; span?: PackSpan }>();
  /** Trees with a stand-in id below them, and the true ids of stand-ins read. */
  readonly #lazyTrees = new Set<ObjectId>();
  readonly #real = new Map<ObjectId, ObjectId>();
  #keptBytes = 0;

  readonly #lfs: LfsStore;
  /** Files whose contents are in the lfs store: our id → size. */
  readonly #large = new Map<ObjectId, number>();

  readonly #onWarning: ((msg: string) => void) | undefined;
  #warnedPointer = false;

  constructor(store: Pick<GitObjectStore, "read" | "readTree" | "blobEntry" | "readMany">, lfs: LfsStore, onWarning?: (msg: string) => void) {
    super(new MemoryObjectStorage(), new PackIndex());
    this.#store = store;
    this.#lfs = lfs;
    this.#onWarning = onWarning;
  }

  /**
   * Reads a Git tree and everything below it; returns our id of the same tree, with its files'
   * count and bytes. `lazy` (a run new here, written once): a packed blob of a size no LFS
   * pointer has is not read now but given a stand-in id and the size its pack entry states, read
   * (checked) only when written; `realId` and `realTreeId` then give the true ids.
   */
  async translate(oid: GitOid, where: string, readOnly: boolean, lazy = false): Promise<{ id: ObjectId; files: number; bytes: number }> {
    const totals = { files: 0, bytes: 0 };
    const walk = async (treeOid: GitOid, path: string): Promise<ObjectId> => {
      const entries: TreeEntry[] = [];
      let standIns = false;
      for (const e of await this.#store.readTree(treeOid, path)) {
        const at = `${path}/${e.name}`;
        if (e.mode === "40000") {
          const id = await walk(e.oid, at);
          standIns ||= this.#lazyTrees.has(id);
          entries.push({ name: e.name, kind: "dir", mode: 0o755, size: 0, id });
          continue;
        }
        const packed = lazy && e.mode !== "120000" ? this.#store.blobEntry(e.oid) : undefined;
        const size = packed?.size;
        if (packed !== undefined && size !== undefined && (size > MAX_POINTER || size < MIN_POINTER)) {
          const id = STAND_IN_PREFIX + e.oid;
          if (!this.#blobs.has(id)) this.#blobs.set(id, { oid: e.oid, data: undefined, span: packed.span });
          entries.push({ name: e.name, kind: "file", mode: fileMode(e.mode, readOnly), size, id });
          standIns = true;
          totals.files++;
          totals.bytes += size;
          continue;
        }
        const data = await this.#store.read(e.oid, "blob", at);
        const pointer = e.mode !== "120000" ? parseLfsPointer(data) : undefined;
        if (pointer !== undefined && !this.#lfs.configured) {
          if (!this.#warnedPointer) this.#onWarning?.(`${at} is a Git LFS pointer and this remote has no lfs store: pointer files are written as they are (set lfs in its [repos.NAME] table)`);
          this.#warnedPointer = true;
        }
        if (pointer !== undefined && this.#lfs.configured) {
          // Streamed from the lfs store as it is written (`chunks` sends materialize to readFile).
          this.#large.set(pointer.oid, pointer.size);
          entries.push({ name: e.name, kind: "file", mode: fileMode(e.mode, readOnly), size: pointer.size, id: pointer.oid, chunks: pointer.oid });
          totals.files++;
          totals.bytes += pointer.size;
          continue;
        }
        const id = hashBytes(data);
        this.#keep(id, e.oid, data);
        if (e.mode === "120000") {
          entries.push({ name: e.name, kind: "symlink", mode: 0o777, size: data.length, id });
          continue;
        }
        entries.push({ name: e.name, kind: "file", mode: fileMode(e.mode, readOnly), size: data.length, id });
        totals.files++;
        totals.bytes += data.length;
      }
      entries.sort((a, b) => compareNames(a.name, b.name));
      const tree: Tree = { entries };
      // A tree with stand-ins below it is named by its Git tree and modes until `realTreeId` hashes it.
      const id = standIns ? (readOnly ? LAZY_READ_ONLY : LAZY_WRITABLE) + treeOid : treeId(tree);
      this.#trees.set(id, tree);
      if (standIns) this.#lazyTrees.add(id);
      return id;
    };
    return { id: await walk(oid, where), ...totals };
  }

  /** A file's true id (its SHA-256) once read, for a stand-in; the id itself otherwise. */
  realId(id: ObjectId): ObjectId | undefined {
    return id.startsWith(STAND_IN_PREFIX) ? this.#real.get(id) : id;
  }

  /** A translated tree's true id once every stand-in below it was read; undefined before. */
  realTreeId(id: ObjectId): ObjectId | undefined {
    if (!this.#lazyTrees.has(id)) return id;
    const tree = this.#trees.get(id);
    if (tree === undefined) return undefined;
    const entries: TreeEntry[] = [];
    for (const e of tree.entries) {
      const real = e.kind === "dir" ? this.realTreeId(e.id) : this.realId(e.id);
      if (real === undefined) return undefined;
      entries.push({ ...e, id: real });
    }
    return treeId({ entries });
  }

  #keep(id: ObjectId, oid: GitOid, data: Buffer): void {
    if (this.#blobs.get(id)?.data !== undefined) return;
    const keep = this.#keptBytes + data.length <= KEPT_BYTES;
    if (keep) this.#keptBytes += data.length;
    this.#blobs.set(id, { oid, data: keep ? data : undefined });
  }

  override has(id: ObjectId): boolean {
    return this.#trees.has(id) || this.#blobs.has(id);
  }

  override async read(id: ObjectId): Promise<Buffer> {
    const blob = this.#blobs.get(id);
    if (blob === undefined) throw new RangeError(`object ${id} was not met in a translated tree`);
    if (blob.data !== undefined) return blob.data;
    const data = await this.#store.read(blob.oid, "blob", blob.oid);
    if (id.startsWith(STAND_IN_PREFIX)) this.#real.set(id, hashBytes(data));
    return data;
  }

  /**
   * A new run's files not yet read (stand-ins) are written straight from their pack entries on
   * the addon's threads, each checked against its Git id there; their true ids come back with them.
   */
  override fileRestorer<T>(fsync: boolean, done: RestoredFiles<T>): FileRestorer<T, PackSpan> | undefined {
    // The checkout knows a file by its place in these (no object per file).
    const files: T[] = [];
    const ids: ObjectId[] = [];
    const fallback: T[] = [];
    const checkout = GitPackCheckout.create<number>(fsync, (batch, stamps, sums) => {
      const written: T[] = [];
      let left = 0;
      for (let i = 0; i < batch.length; i++) {
        const k = batch[i]!;
        if (stamps[i * 4]! < 0) {
          fallback.push(files[k]!);
          left++;
        } else {
          this.#real.set(ids[k]!, sums.toString("hex", i * 32, i * 32 + 32));
          written.push(files[k]!);
        }
      }
      if (left === 0) return done(written, stamps);
      // Rare (an entry the addon could not take): the stamps of the files written, in their order.
      const kept = new Float64Array(written.length * 4);
      for (let i = 0, j = 0; i < batch.length; i++) if (stamps[i * 4]! >= 0) kept.set(stamps.subarray(i * 4, i * 4 + 4), 4 * j++);
      if (written.length > 0) done(written, kept);
    });
    if (checkout === undefined) return undefined;
    return {
      locate: (id) => {
        const blob = id.startsWith(STAND_IN_PREFIX) ? this.#blobs.get(id) : undefined;
        return blob?.data === undefined ? blob?.span : undefined;
      },
      add: (of, dir, name, mode, id, mtimeUs, span, size) => {
        if (size > MAX_CHECKOUT_BLOB) {
          fallback.push(of);
          return undefined;
        }
        ids.push(id);
        return checkout.add(span, files.push(of) - 1, `${dir}/${name}`, mode, mtimeUs, this.#blobs.get(id)!.oid, size);
      },
      finish: async () => {
        await checkout.finish();
        return fallback.splice(0);
      },
      settle: () => checkout.settle(),
    };
  }

  override async readTree(id: ObjectId): Promise<Tree> {
    const tree = this.#trees.get(id);
    if (tree === undefined) throw new RangeError(`tree ${id} was not translated`);
    return tree;
  }

  override async readTrees(ids: Iterable<ObjectId>): Promise<Map<ObjectId, Tree>> {
    const out = new Map<ObjectId, Tree>();
    for (const id of ids) out.set(id, await this.readTree(id));
    return out;
  }

  /** Kept blobs first, then the rest in the order they lie in their packs (one pass over each). */
  override async *readMany(ids: Iterable<ObjectId>): AsyncGenerator<{ id: ObjectId; data: Buffer }> {
    const rest = new Map<GitOid, ObjectId>();
    for (const id of ids) {
      const blob = this.#blobs.get(id);
      if (blob === undefined) throw new RangeError(`object ${id} was not met in a translated tree`);
      if (blob.data !== undefined) yield { id, data: blob.data };
      else rest.set(blob.oid, id);
    }
    for await (const { oid, data, sha256 } of this.#store.readMany(rest.keys(), "blob", (oid) => oid)) {
      const id = rest.get(oid)!;
      if (id.startsWith(STAND_IN_PREFIX)) this.#real.set(id, sha256 ?? hashBytes(data));
      yield { id, data };
    }
  }

  override async *readFile(entry: Pick<TreeEntry, "id" | "size" | "chunks">): AsyncGenerator<Buffer> {
    const size = this.#large.get(entry.id);
    if (size !== undefined) yield* this.#lfs.read(entry.id, size);
    else yield await this.read(entry.id);
  }
}
