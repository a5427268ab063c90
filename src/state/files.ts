import { closeSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync, writeSync, type Stats } from "node:fs";
import { basename, dirname, join } from "node:path";

/**
 * The one write policy of `.gage-sync/` (docs/formats.md, Local state): a file is replaced by a
 * temporary file in its folder, renamed over it, so no reader sees a partial file. `durable`
 * files (a crash must not leave a wrong answer: the default remote, a pull's pending mark) are
 * fsync'ed with their folder first; caches are not: a lost or older cache file only costs speed,
 * as each is checked (stamp, checksum) before use.
 */
export function commitStateFile(path: string, data: string | Uint8Array, opts: { durable: boolean }): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeTemp(tmp, data, opts.durable);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    mkdirSync(dir, { recursive: true });
    writeTemp(tmp, data, opts.durable);
  }
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  if (opts.durable) syncFolder(dir);
}

function writeTemp(tmp: string, data: string | Uint8Array, durable: boolean): void {
  if (!durable) {
    writeFileSync(tmp, data);
    return;
  }
  const fd = openSync(tmp, "w", 0o644);
  try {
    writeFileSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function syncFolder(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on a folder; the rename itself has happened.
  } finally {
    closeSync(fd);
  }
}

/** A state file's bytes, or `undefined` when it does not exist. Synchronous: most are small. */
export function readStateFile(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** A state file open for reading parts of it (a cached view's header, then only the blocks used). */
export interface StateFileReader {
  size: number;
  /** Which file this is (inode, size, modification time): another command may have replaced it since. */
  version?: string;
  /** `length` bytes from `start` (fewer at the end of the file). */
  read(start: number, length: number): Buffer;
  close(): void;
}

/** Opens a state file for reading by parts, or `undefined` when there is none. */
export function openStateFile(path: string): StateFileReader | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  let open = true;
  const st = fstatSync(fd);
  return {
    size: st.size,
    version: versionOf(st),
    read(start, length) {
      const out = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const n = readSync(fd, out, got, length - got, start + got);
        if (n === 0) break;
        got += n;
      }
      return out.subarray(0, got);
    },
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

function versionOf(st: Stats): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}

/** The version of a state file now (as `StateFileReader.version`), or `undefined` when there is none. */
export function stateFileVersion(path: string): string | undefined {
  try {
    return versionOf(statSync(path));
  } catch {
    return undefined;
  }
}

/**
 * Writes `bytes` over a state file from `at` on and cuts it there: an update in place of a file
 * whose every part is checked by digest as it is read (a torn write reads as damaged, so a miss).
 */
export function writeStateFileTail(path: string, at: number, bytes: Buffer): void {
  let fd: number;
  try {
    fd = openSync(path, "r+");
  } catch (err) {
    // Removed since it was read (the folder cleared): nothing to update, the next command starts afresh.
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  try {
    for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, at + done);
    ftruncateSync(fd, at + bytes.length);
  } finally {
    closeSync(fd);
  }
}

/** Removes a state file; absent is fine. */
export function removeStateFile(path: string): void {
  rmSync(path, { force: true });
}
