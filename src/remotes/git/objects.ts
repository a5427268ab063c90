import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { MAX_OBJECT_BYTES, PackFile, type PackedObject } from "./pack-read.js";
import { readEntries, type PooledEntry } from "./pack-pool.js";
import { GitPackWriter } from "./pack-write.js";
import type { PackSpan } from "./checkout-native.js";
import { badEntryName } from "../../objects/codec.js";
import { CorruptObjectError, UnsafePathError } from "../../objects/errors.js";

/** A Git object id: SHA-1, 40 lower-case hex digits. */
export type GitOid = string;

/** The id of Git's empty tree: what an absent or empty folder stands at. */
export const EMPTY_TREE_OID: GitOid = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

export type GitObjectType = "blob" | "tree" | "commit";

/** Modes a tree entry may have here (a submodule, 160000, is refused). */
export type GitMode = "100644" | "100755" | "120000" | "40000";

export interface GitTreeEntry {
  mode: GitMode;
  name: string;
  oid: GitOid;
}

const OID = /^[0-9a-f]{40}$/;

export function isGitOid(text: unknown): text is GitOid {
  return typeof text === "string" && OID.test(text);
}

function header(type: GitObjectType, length: number): Buffer {
  return Buffer.from(`${type} ${length}\0`, "latin1");
}

export function hashObject(type: GitObjectType, content: Uint8Array): GitOid {
  return createHash("sha1").update(header(type, content.length)).update(content).digest("hex");
}

/** Git orders tree entries by name, a folder's name read as if it ended in `/`. */
function sortKey(e: GitTreeEntry): Buffer {
  return Buffer.from(e.mode === "40000" ? `${e.name}/` : e.name, "utf8");
}

export function encodeTree(entries: readonly GitTreeEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => Buffer.compare(sortKey(a), sortKey(b)));
  const parts: Buffer[] = [];
  for (const e of sorted) parts.push(Buffer.from(`${e.mode} ${e.name}\0`, "utf8"), Buffer.from(e.oid, "hex"));
  return Buffer.concat(parts);
}

const MODES: ReadonlySet<string> = new Set(["100644", "100755", "120000", "40000", "040000"]);

/**
 * Parses a tree from a remote, refusing what must never touch the disk: a bad name (`..`, a `/`,
 * NUL, empty), `.git` in any case, a name given twice (a folder and a symlink of one name would be
 * a path through a symlink), a submodule or an unknown mode. `where` names the tree in errors.
 */
export function parseTree(content: Buffer, where: string): GitTreeEntry[] {
  const entries: GitTreeEntry[] = [];
  const names = new Set<string>();
  let at = 0;
  while (at < content.length) {
    const space = content.indexOf(0x20, at);
    const nul = space < 0 ? -1 : content.indexOf(0, space);
    if (space < 0 || nul < 0 || nul + 21 > content.length) throw new CorruptObjectError(where, { reason: "truncated tree" });
    const mode = content.toString("latin1", at, space);
    const name = content.toString("utf8", space + 1, nul);
    const oid = content.toString("hex", nul + 1, nul + 21);
    at = nul + 21;
    const path = `${where}/${name}`;
    const bad = badEntryName(name);
    if (bad !== undefined) throw new UnsafePathError(path, bad);
    if (name.toLowerCase() === ".git") throw new UnsafePathError(path, "a '.git' entry is never written");
    if (!MODES.has(mode)) throw new UnsafePathError(path, `mode ${mode} is not a file, folder or symlink`);
    if (names.has(name)) throw new UnsafePathError(path, "the name is given twice in one tree");
    names.add(name);
    entries.push({ mode: (mode === "040000" ? "40000" : mode) as GitMode, name, oid });
  }
  return entries;
}

export interface GitPerson {
  name: string;
  email: string;
  /** Seconds since the epoch. */
  time: number;
}

export function encodeCommit(commit: { tree: GitOid; parents: readonly GitOid[]; author: GitPerson; message: string }): Buffer {
  const who = (p: GitPerson) => `${p.name.replace(/[<>\n]/g, "")} <${p.email.replace(/[<>\n]/g, "")}> ${Math.floor(p.time)} +0000`;
  const lines = [`tree ${commit.tree}`, ...commit.parents.map((p) => `parent ${p}`), `author ${who(commit.author)}`, `committer ${who(commit.author)}`, "", commit.message];
  return Buffer.from(lines.join("\n").replace(/\n*$/, "\n"), "utf8");
}

/** The tree a commit points at. */
export function commitTree(content: Buffer, where: string): GitOid {
  const m = /^tree ([0-9a-f]{40})\n/.exec(content.toString("latin1", 0, 46));
  if (!m) throw new CorruptObjectError(where, { reason: "not a commit" });
  return m[1]!;
}

type IsoGit = typeof import("isomorphic-git");
let isoGit: Promise<IsoGit> | undefined;

/** isomorphic-git, loaded at first use: no command but those on a Git remote loads it. */
export function loadIsomorphicGit(): Promise<IsoGit> {
  // Bundled, the CommonJS build comes as a default export; unbundled, as named ones.
  return (isoGit ??= import("isomorphic-git").then((m) => ((m as { default?: IsoGit }).default ?? m) as IsoGit));
}

/** A batch read on a worker thread: at most this many entries, or about this many compressed bytes. */
const BATCH_ENTRIES = 256;
const BATCH_BYTES = 1024 * 1024;
const BATCHES_AHEAD = 4;

/** Parsed trees kept by a store. */
const TREES_KEPT = 20_000;

/** A reader's place for an object: which pack and where in it (loose objects sort last). */
interface Place {
  pack: number;
  offset: number;
}

/**
 * The objects of one Git repository folder (bare: `objects/`, `refs/`): loose objects and packs
 * (version-2 indexes) read here, without isomorphic-git, each object checked against its id and
 * every size bounded by the bytes read; new objects go into one pack per `flush` (see
 * `GitPackWriter`), written straight into `objects/pack/`.
 */
export class GitObjectStore {
  readonly gitdir: string;
  #packs: PackFile[] | undefined;
  /** Objects written or found by this process (a second write of one is skipped). */
  readonly #known = new Set<GitOid>();
  #writer: GitPackWriter | undefined;
  /** Objects in the pack being written, not yet readable. */
  readonly #pending = new Set<GitOid>();
  readonly #trees = new Map<GitOid, GitTreeEntry[]>();
  written = 0;
  writtenBytes = 0;

  constructor(gitdir: string) {
    this.gitdir = gitdir;
  }

  /** Packs as the folder holds them now (after a fetch added one). */
  refresh(): void {
    const known = new Map((this.#packs ?? []).map((p) => [p.path, p]));
    const dir = join(this.gitdir, "objects", "pack");
    let names: string[] = [];
    try {
      names = fs.readdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    const packs: PackFile[] = [];
    for (const name of names.sort()) {
      if (!/^pack-[0-9a-f]{40}\.idx$/.test(name)) continue;
      const packPath = join(dir, name.replace(/\.idx$/, ".pack"));
      const found = known.get(packPath);
      if (found !== undefined) {
        packs.push(found);
        known.delete(packPath);
      } else if (fs.existsSync(packPath)) packs.push(new PackFile(packPath, fs.readFileSync(join(dir, name)), (oid) => this.#readRaw(oid)));
    }
    for (const gone of known.values()) gone.close();
    this.#packs = packs;
  }

  #allPacks(): PackFile[] {
    if (this.#packs === undefined) this.refresh();
    return this.#packs!;
  }

  #place(oid: GitOid): Place | undefined {
    const packs = this.#allPacks();
    for (let k = 0; k < packs.length; k++) {
      const offset = packs[k]!.find(oid);
      if (offset >= 0) return { pack: k, offset };
    }
    return undefined;
  }

  /** An object's type and bytes as stored, unchecked; undefined when it is not here. */
  #readRaw(oid: GitOid, place = this.#place(oid)): PackedObject | undefined {
    if (place !== undefined) return this.#allPacks()[place.pack]!.readAt(place.offset, oid);
    let file: Buffer;
    try {
      file = fs.readFileSync(this.#loosePath(oid));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    // Bounded by what the compressed bytes can hold; the header's size is then checked.
    const whole = inflateLoose(file, oid);
    const m = /^(commit|tree|blob|tag) (\d+)\0/.exec(whole.toString("latin1", 0, Math.min(whole.length, 32)));
    if (!m || whole.length !== m[0].length + Number(m[2])) throw new CorruptObjectError(oid, { reason: "a loose object with a bad header" });
    return { type: m[1]!, data: whole.subarray(m[0].length) };
  }

  #checked(oid: GitOid, obj: PackedObject | undefined, expected: GitObjectType, where: string): Buffer {
    if (obj === undefined) throw new CorruptObjectError(oid, { where, reason: `the ${expected} is missing from the repository` });
    if (obj.type !== expected) throw new CorruptObjectError(oid, { where, reason: `a ${obj.type} where a ${expected} belongs` });
    const actual = hashObject(expected, obj.data);
    if (actual !== oid) throw new CorruptObjectError(oid, { where, actual });
    this.#known.add(oid);
    return obj.data;
  }

  async read(oid: GitOid, expected: GitObjectType, where: string): Promise<Buffer> {
    if (this.#pending.has(oid)) this.flush();
    let place = this.#place(oid);
    if (place === undefined && !fs.existsSync(this.#loosePath(oid))) {
      // A pack added since the packs were listed (a fetch, another process's push).
      this.refresh();
      place = this.#place(oid);
    }
    return this.#checked(oid, this.#readRaw(oid, place), expected, where);
  }

  /**
   * Reads many objects of one type, in the order they lie in their packs (one sequential pass
   * over each pack, its delta bases met just before they are needed), each checked.
   */
  async *readMany(oids: Iterable<GitOid>, expected: GitObjectType, where: (oid: GitOid) => string): AsyncGenerator<{ oid: GitOid; data: Buffer; sha256?: string }> {
    if (this.#pending.size > 0) this.flush();
    const placed: { oid: GitOid; place: Place | undefined }[] = [];
    for (const oid of oids) placed.push({ oid, place: this.#place(oid) });
    placed.sort((a, b) => (a.place?.pack ?? Infinity) - (b.place?.pack ?? Infinity) || (a.place?.offset ?? 0) - (b.place?.offset ?? 0));
    // Batches of one pack inflated and hashed on worker threads, a few ahead of the one yielded.
    const batches: { items: typeof placed; pack: string | undefined; spans: number[]; read?: Promise<PooledEntry[]> }[] = [];
    for (let k = 0; k < placed.length; ) {
      const first = placed[k]!.place;
      const batch: (typeof batches)[number] = { items: [], pack: first && this.#allPacks()[first.pack]!.path, spans: [] };
      let bytes = 0;
      while (k < placed.length && batch.items.length < BATCH_ENTRIES && bytes < BATCH_BYTES) {
        const { place } = placed[k]!;
        if ((place === undefined) !== (first === undefined) || place?.pack !== first?.pack) break;
        batch.items.push(placed[k++]!);
        const end = place === undefined ? -1 : this.#allPacks()[place.pack]!.entryEnd(place.offset);
        if (place === undefined || end < 0) batch.spans.push(0, 0);
        else {
          batch.spans.push(place.offset, end);
          bytes += end - place.offset;
        }
      }
      batches.push(batch);
    }
    const start = (k: number) => {
      const b = batches[k];
      if (b?.pack !== undefined && b.read === undefined) b.read = readEntries(b.pack, b.spans).catch(() => []);
    };
    for (let k = 0; k < BATCHES_AHEAD; k++) start(k);
    for (let b = 0; b < batches.length; b++) {
      start(b + BATCHES_AHEAD);
      const batch = batches[b]!;
      const found = (await batch.read) ?? [];
      // Its bytes go once yielded: a batch read is not held until the last one is.
      batch.read = undefined;
      for (let k = 0; k < batch.items.length; k++) {
        const { oid, place } = batch.items[k]!;
        const got = found[k];
        if (got && got.sha1 === oid && got.type === expected) {
          this.#known.add(oid);
          yield { oid, data: got.data, sha256: got.sha256 };
        } else
          // Not read there (a delta, a loose object, a fault): read here, where a fault is named.
          yield { oid, data: place === undefined ? await this.read(oid, expected, where(oid)) : this.#checked(oid, this.#readRaw(oid, place), expected, where(oid)) };
      }
    }
  }

  /**
   * A packed blob's size as its pack's entry header gives it, and where the entry lies (nothing
   * inflated, nothing checked: the caller reads it later, checked, and holds it to this size);
   * undefined for a loose object or a delta.
   */
  blobEntry(oid: GitOid): { size: number; span: PackSpan } | undefined {
    const place = this.#pending.has(oid) ? undefined : this.#place(oid);
    if (place === undefined) return undefined;
    const pack = this.#allPacks()[place.pack]!;
    const head = pack.headerAt(place.offset);
    const end = pack.entryEnd(place.offset);
    return head?.type === "blob" && end >= 0 ? { size: head.size, span: { pack: pack.path, start: place.offset, end } } : undefined;
  }

  /** True when the object is here (loose or packed). */
  async has(oid: GitOid): Promise<boolean> {
    if (this.#known.has(oid) || fs.existsSync(this.#loosePath(oid)) || this.#place(oid) !== undefined) return true;
    this.refresh();
    return this.#place(oid) !== undefined;
  }

  async readTree(oid: GitOid, where: string): Promise<GitTreeEntry[]> {
    if (oid === EMPTY_TREE_OID) return [];
    const cached = this.#trees.get(oid);
    if (cached !== undefined) return cached;
    const entries = parseTree(await this.read(oid, "tree", where), where);
    // A listing reads each run's meta tree, and a pull reads it again: kept, up to a bound.
    if (this.#trees.size >= TREES_KEPT) this.#trees.clear();
    this.#trees.set(oid, entries);
    return entries;
  }

  #loosePath(oid: GitOid): string {
    return join(this.gitdir, "objects", oid.slice(0, 2), oid.slice(2));
  }

  /** Stores an object (in the pack being written, unless one of that id is here already) and returns its id. */
  async write(type: GitObjectType, content: Buffer): Promise<GitOid> {
    const oid = hashObject(type, content);
    if (this.#known.has(oid)) return oid;
    if (!fs.existsSync(this.#loosePath(oid)) && this.#place(oid) === undefined) {
      this.#writer ??= new GitPackWriter(this.gitdir);
      this.#writer.add(oid, type, content);
      this.#pending.add(oid);
      this.written++;
      this.writtenBytes += content.length;
    }
    this.#known.add(oid);
    return oid;
  }

  /** Makes every object written so far readable (its pack named and indexed): before a ref names them. */
  flush(): void {
    const writer = this.#writer;
    this.#writer = undefined;
    this.#pending.clear();
    if (writer === undefined) return;
    writer.finish();
    this.refresh();
  }

  /** Closes the packs, and removes a pack left unfinished (its objects were never named by a ref). */
  close(): void {
    this.#writer?.abort();
    this.#writer = undefined;
    this.#pending.clear();
    for (const p of this.#packs ?? []) p.close();
    this.#packs = undefined;
  }
}

function inflateLoose(file: Buffer, oid: GitOid): Buffer {
  try {
    return file.length <= 64 * 1024 ? inflateSync(file) : inflateSync(file, { maxOutputLength: Math.min(MAX_OBJECT_BYTES + 64, file.length * 1032 + 64) });
  } catch (err) {
    throw new CorruptObjectError(oid, { reason: `a loose object that does not inflate (${(err as Error).message})` }, { cause: err });
  }
}
