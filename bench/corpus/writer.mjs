// Writes a corpus's files with fixed modes and times, counting what it wrote.
import { closeSync, mkdirSync, openSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { createHash } from "node:crypto";

/** Gage leaves a finished run's files read-only. */
export const READ_ONLY = 0o444;

const BLOCK = 4 * 1024 * 1024;

export class CorpusWriter {
  files = 0;
  dirs = 0;
  bytes = 0;

  dir(path) {
    mkdirSync(path, { recursive: true });
    this.dirs++;
  }

  /** A file with `data`, its mtime `mtimeMs` (atime too), read-only unless `mode` says otherwise. */
  file(path, data, mtimeMs, mode = READ_ONLY) {
    writeFileSync(path, data, { mode });
    this.#stamp(path, mtimeMs);
    this.files++;
    this.bytes += Buffer.byteLength(data);
  }

  /**
   * A large file of `size` bytes from `base` (a keystream), with `patches` ([start, length] in
   * ascending order, not overlapping) taken from `patchBytes` in turn. Returns its SHA-256 (hex).
   */
  streamed(path, size, mtimeMs, base, patches = [], patchBytes = undefined) {
    const fd = openSync(path, "w", READ_ONLY);
    const hash = createHash("sha256");
    try {
      for (let offset = 0; offset < size; offset += BLOCK) {
        const block = base(Math.min(BLOCK, size - offset));
        const end = offset + block.length;
        for (const [start, length] of patches) {
          const from = Math.max(start, offset);
          const to = Math.min(start + length, end);
          if (from < to) patchBytes(to - from).copy(block, from - offset);
        }
        writeSync(fd, block);
        hash.update(block);
      }
    } finally {
      closeSync(fd);
    }
    this.#stamp(path, mtimeMs);
    this.files++;
    this.bytes += size;
    return hash.digest("hex");
  }

  #stamp(path, ms) {
    const time = new Date(ms);
    utimesSync(path, time, time);
  }
}

export const sha256 = (data) => createHash("sha256").update(data).digest("hex");
