import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { mkdir, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
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

/**
 * The objects of one Git repository folder (bare: `objects/`, `refs/`): reads through
 * isomorphic-git (loose objects and packs), each object checked against its id; writes loose
 * objects under a temporary name, renamed into place.
 */
export class GitObjectStore {
  readonly gitdir: string;
  /** isomorphic-git's cache of parsed pack indexes, kept across reads. */
  readonly #cache: object = {};
  /** Objects written or found by this process (a second write of one is skipped). */
  readonly #known = new Set<GitOid>();
  written = 0;
  writtenBytes = 0;

  constructor(gitdir: string) {
    this.gitdir = gitdir;
  }

  async read(oid: GitOid, expected: GitObjectType, where: string): Promise<Buffer> {
    const git = await loadIsomorphicGit();
    let result: { type: string; object: unknown };
    try {
      result = (await git.readObject({ fs, gitdir: this.gitdir, oid, format: "content", cache: this.#cache })) as { type: string; object: unknown };
    } catch (err) {
      if ((err as { code?: string }).code === "NotFoundError") throw new CorruptObjectError(oid, { where, reason: `the ${expected} is missing from the repository` });
      throw err;
    }
    const content = Buffer.from(result.object as Uint8Array);
    if (result.type !== expected) throw new CorruptObjectError(oid, { where, reason: `a ${result.type} where a ${expected} belongs` });
    const actual = hashObject(expected, content);
    if (actual !== oid) throw new CorruptObjectError(oid, { where, actual });
    this.#known.add(oid);
    return content;
  }

  /** True when the object is here (loose or packed). */
  async has(oid: GitOid): Promise<boolean> {
    if (this.#known.has(oid) || fs.existsSync(this.#loosePath(oid))) return true;
    const git = await loadIsomorphicGit();
    try {
      await git.readObject({ fs, gitdir: this.gitdir, oid, format: "deflated", cache: this.#cache });
      return true;
    } catch (err) {
      if ((err as { code?: string }).code === "NotFoundError") return false;
      throw err;
    }
  }

  async readTree(oid: GitOid, where: string): Promise<GitTreeEntry[]> {
    if (oid === EMPTY_TREE_OID) return [];
    return parseTree(await this.read(oid, "tree", where), where);
  }

  #loosePath(oid: GitOid): string {
    return join(this.gitdir, "objects", oid.slice(0, 2), oid.slice(2));
  }

  /** Stores an object (a loose object, unless one of that id is here already) and returns its id. */
  async write(type: GitObjectType, content: Buffer): Promise<GitOid> {
    const oid = hashObject(type, content);
    if (this.#known.has(oid)) return oid;
    const path = this.#loosePath(oid);
    if (!fs.existsSync(path)) {
      const packed = Buffer.concat([header(type, content.length), content]);
      await mkdir(join(path, ".."), { recursive: true });
      const tmp = `${path}.tmp-${randomBytes(6).toString("hex")}`;
      await writeFile(tmp, deflateSync(packed, { level: 1 }), { mode: 0o444 });
      try {
        await rename(tmp, path);
      } catch (err) {
        await unlink(tmp).catch(() => undefined);
        throw err;
      }
      this.written++;
      this.writtenBytes += content.length;
    }
    this.#known.add(oid);
    return oid;
  }
}
