import { createHash, randomBytes } from "node:crypto";
import { constants, lstatSync, readdirSync, promises as fs } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { CorruptObjectError, UnsafePathError } from "../../objects/errors.js";
import { decodeName, fsPath, printableName } from "../../objects/names.js";
import { TEMP_PREFIX } from "../../remotes/keys.js";
import { readAt } from "../../remotes/streams.js";
import { RunsDirError } from "../../runs/errors.js";
import { listRuns, sortRuns, type Run } from "../../runs/run.js";
import type { FileData, MetaWriter, RunsSide, SideFile, WriteAttrs } from "./side.js";

/**
 * A runs directory on disk, read and written with plain fs so that modes and mtimes survive and
 * symlinks are seen for what they are. `outside` marks a directory we did not make (a copy's
 * source or destination): a symlink in it refuses the copy, where the local runs directory only
 * skips it with a warning (a run may link to a dataset; Gage's manifest skips links too).
 */
export class FsRunsSide implements RunsSide {
  readonly where: string;
  private readonly checkedDirs = new Set<string>();
  /** Temporary files seen by `listFiles`: left by a copy that was killed before its rename. */
  private readonly strays: string[] = [];

  constructor(
    readonly root: string,
    private readonly opts: { outside: boolean; onWarning?: (msg: string) => void },
  ) {
    this.where = root;
  }

  async listRuns(onWarning?: (msg: string) => void): Promise<Run[]> {
    if (!(await isDir(this.root))) {
      // A source that is not there is a mistyped path, not an empty runs directory.
      if (this.opts.outside) throw new RunsDirError(this.root, `Runs directory ${this.root} does not exist`);
      return [];
    }
    // A bad user log entry is reported and skipped; it must not hide the run from the copy.
    const warn = { onWarning: onWarning ?? (() => {}) };
    const live = await listRuns(this.root, warn);
    const deleted = await listRuns(this.root, { ...warn, deleted: true });
    return sortRuns([...live, ...deleted]);
  }

  async listFiles(dirs: readonly string[]): Promise<SideFile[]> {
    const out: SideFile[] = [];
    const walk = (rel: string) => {
      let st;
      try {
        st = lstatSync(fsPath(this.root, rel));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
        throw err;
      }
      if (st.isSymbolicLink()) {
        if (this.opts.outside) throw new UnsafePathError(printableName(rel), `a symlink in ${this.root}; copy never follows or writes links`);
        this.opts.onWarning?.(`Skipping symlink ${printableName(join(this.root, rel))}`);
      } else if (st.isDirectory()) {
        // Names as bytes: one that is not UTF-8 is kept exactly (`decodeName`), never dropped.
        const names = readdirSync(fsPath(this.root, rel), { encoding: "buffer" }).map(decodeName);
        for (const name of names.sort()) {
          if (!name.startsWith(TEMP_PREFIX)) walk(`${rel}/${name}`);
          else this.strays.push(`${rel}/${name}`);
        }
      } else if (st.isFile()) {
        out.push({ key: rel, size: st.size, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs });
      } else if (this.opts.outside) {
        throw new UnsafePathError(printableName(rel), `not a regular file or directory in ${this.root}`);
      }
    };
    for (const dir of dirs) walk(dir);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async removeStrays(tops: readonly string[]): Promise<void> {
    const mine = (key: string) => tops.some((top) => key.startsWith(`${top}/`));
    for (const key of this.strays.filter(mine)) await fs.rm(fsPath(this.root, key), { recursive: true, force: true });
  }

  async read(key: string): Promise<Readable> {
    return (await this.open(key)).createReadStream();
  }

  async load(key: string): Promise<Buffer> {
    const fh = await this.open(key);
    try {
      return await fh.readFile();
    } finally {
      await fh.close();
    }
  }

  async readRange(key: string, start: number, end: number): Promise<Buffer> {
    const fh = await this.open(key);
    try {
      return await readAt(fh, start, end - start);
    } finally {
      await fh.close();
    }
  }

  async readBytes(key: string): Promise<Buffer | undefined> {
    try {
      return await this.load(key);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return undefined;
      throw err;
    }
  }

  /**
   * Opens a file to read, non-blocking so that a FIFO put in a source's place cannot hang the
   * copy, and only when it is a regular file.
   * @throws UnsafePathError for anything else.
   */
  private async open(key: string): Promise<fs.FileHandle> {
    const fh = await fs.open(fsPath(this.root, key), constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      if (!(await fh.stat()).isFile()) throw new UnsafePathError(key, `not a regular file in ${this.root}; copy reads only regular files`);
      return fh;
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async write(key: string, data: FileData, attrs: WriteAttrs): Promise<void> {
    await writeUnder(this.root, key, data, attrs, this.checkedDirs);
  }

  async beginMeta(dir: string): Promise<MetaWriter> {
    const final = join(this.root, dir);
    if (await isDir(final)) {
      return { write: (rel, data, attrs) => this.write(`${dir}/${rel}`, data, attrs), commit: async () => {} };
    }
    await this.ensureRoot();
    // Gage finds a run by its `ID.meta` folder: the meta is built under a hidden name and renamed
    // into place whole, so a reader never sees a half-copied run.
    const stagingName = `${TEMP_PREFIX}${dir}-${randomBytes(6).toString("hex")}`;
    const staging = join(this.root, stagingName);
    await fs.mkdir(staging, { mode: 0o755 });
    const checked = new Set<string>();
    return {
      write: (rel, data, attrs) => writeUnder(staging, rel, data, attrs, checked),
      commit: async () => {
        await fs.rename(staging, final);
        await syncDir(this.root);
        await this.removeStaleStaging(dir, stagingName);
      },
    };
  }

  /** Staging folders of copies of the same meta that were killed before their rename. */
  private async removeStaleStaging(dir: string, keep: string): Promise<void> {
    for (const name of await fs.readdir(this.root)) {
      if (name !== keep && name.startsWith(`${TEMP_PREFIX}${dir}-`)) {
        await fs.rm(join(this.root, name), { recursive: true, force: true });
      }
    }
  }

  private async ensureRoot(): Promise<void> {
    await fs.mkdir(this.root, { recursive: true });
  }

  async close(): Promise<void> {}
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await fs.stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Creates the folders of `rel` below `base` one at a time, refusing any that is a symlink or not
 * a folder, so a write can never land outside `base`.
 */
async function ensureParents(base: string, rel: string, checked: Set<string>): Promise<void> {
  const segments = rel.split("/").slice(0, -1);
  for (let k = 1; k <= segments.length; k++) {
    const sub = segments.slice(0, k).join("/");
    const key = `${base}/${sub}`;
    if (checked.has(key)) continue;
    const path = fsPath(base, sub);
    let st;
    try {
      st = await fs.lstat(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      await fs.mkdir(path, { mode: 0o755 }).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== "EEXIST") throw e;
      });
      st = await fs.lstat(path);
    }
    if (st.isSymbolicLink() || !st.isDirectory()) {
      throw new UnsafePathError(printableName(rel), `${printableName(key)} is ${st.isSymbolicLink() ? "a symlink" : "not a folder"}; copy never writes through it`);
    }
    checked.add(key);
  }
}

/** Writes `base/rel` under a temporary name, checks its digest, sets mode and mtime, renames. */
async function writeUnder(base: string, rel: string, data: FileData, attrs: WriteAttrs, checked: Set<string>): Promise<void> {
  if (!checked.has(base)) {
    await fs.mkdir(base, { recursive: true });
    checked.add(base);
  }
  await ensureParents(base, rel, checked);
  const target = fsPath(base, rel);
  const slash = rel.lastIndexOf("/");
  const temp = fsPath(base, rel.slice(0, slash + 1) + `${TEMP_PREFIX}${randomBytes(8).toString("hex")}`);
  const hash = attrs.sha256 === undefined ? undefined : createHash("sha256");
  try {
    const fh = await fs.open(temp, "wx", 0o600);
    try {
      if (Buffer.isBuffer(data)) {
        hash?.update(data);
        await fh.writeFile(data);
      } else {
        for await (const chunk of data) {
          hash?.update(chunk as Buffer);
          await fh.write(chunk as Buffer);
        }
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    const actual = hash?.digest("hex");
    if (actual !== undefined && actual !== attrs.sha256) {
      throw new CorruptObjectError(attrs.sha256!, { actual, where: rel, reason: `its bytes hash to ${actual}, not the manifest's digest` });
    }
    await fs.chmod(temp, attrs.mode);
    if (attrs.mtimeMs !== undefined) await fs.utimes(temp, new Date(), new Date(attrs.mtimeMs));
    await fs.rename(temp, target);
  } catch (err) {
    if (!Buffer.isBuffer(data)) data.destroy();
    await fs.rm(temp, { force: true });
    throw err;
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, "r");
  try {
    await fh.sync();
  } catch {
    // Some filesystems refuse fsync on a folder; the rename has still happened.
  } finally {
    await fh.close();
  }
}
