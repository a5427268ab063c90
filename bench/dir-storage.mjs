// A minimal local-directory ObjectStorage for the benchmark (temp file + rename, no fsync: the
// benchmark runs on a tmpfs). The real local backend lives in src/remotes/local/.
import { mkdir, open, readdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { randomBytes } from "node:crypto";

export class DirStorage {
  constructor(root) {
    this.root = root;
  }

  async getBytes(key, range) {
    if (range === undefined) return readFile(join(this.root, key));
    const fh = await open(join(this.root, key), "r");
    try {
      // A range past the end is clamped, as every Storage backend does (an index is read with a bound).
      const size = (await fh.stat()).size;
      const end = Math.min(range.end ?? size, size);
      if (end <= range.start) return Buffer.alloc(0);
      const buf = Buffer.allocUnsafe(end - range.start);
      const { bytesRead } = await fh.read(buf, 0, buf.length, range.start);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }

  async put(key, data) {
    const path = join(this.root, key);
    await mkdir(dirname(path), { recursive: true });
    const tmp = join(dirname(path), `.gage-tmp-${randomBytes(6).toString("hex")}`);
    await writeFile(tmp, data);
    await rename(tmp, path);
  }

  async stat(key) {
    try {
      return { size: (await stat(join(this.root, key))).size };
    } catch (err) {
      if (err.code === "ENOENT") return undefined;
      throw err;
    }
  }

  async *list(prefix) {
    const dir = prefix.includes("/") ? prefix.slice(0, prefix.lastIndexOf("/")) : "";
    let names;
    try {
      names = await readdir(join(this.root, dir));
    } catch (err) {
      if (err.code === "ENOENT") return;
      throw err;
    }
    for (const name of names.sort()) {
      const key = dir === "" ? name : `${dir}/${name}`;
      if (key.startsWith(prefix) && !name.startsWith(".gage-tmp-")) yield { key, size: (await stat(join(this.root, key))).size };
    }
  }
}
