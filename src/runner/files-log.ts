import { createHash } from "node:crypto";
import {
  appendFileSync,
  chmodSync,
  closeSync,
  copyFileSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { comparePy } from "./values.js";

/** `s` source code, `r` runtime, `d` dependency, `g` generated. */
export type RunFileType = "s" | "r" | "d" | "g";

interface LoggedFile {
  event: "a" | "m" | "d";
  type: RunFileType;
  modified: number | undefined;
  path: string;
}

/** Copies `paths` (relative to `srcDir`) into `destDir`, keeping their permission bits. */
export function copyFiles(srcDir: string, destDir: string, paths: readonly string[]): void {
  for (const path of paths) {
    const dest = join(destDir, path);
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(join(srcDir, path), dest);
    chmodSync(dest, statSync(join(srcDir, path)).mode & 0o7777);
  }
}

function readFilesLog(metaDir: string): LoggedFile[] {
  let text: string;
  try {
    text = readFileSync(join(metaDir, "log", "files"), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      const [event, type, modified, ...rest] = line.split(" ");
      return { event, type, modified: modified === "-" ? undefined : Number(modified), path: rest.join(" ") } as LoggedFile;
    });
}

/** `int(st_mtime * 1_000_000)` computed as Python does, from a float of seconds. */
function mtimeUs(path: string): number {
  const st = statSync(path, { bigint: true });
  const seconds = Number(st.mtimeNs / 1_000_000_000n) + Number(st.mtimeNs % 1_000_000_000n) * 1e-9;
  return Math.trunc(seconds * 1_000_000);
}

/** Every file under `runDir` (following links), as sorted `/`-separated relative paths. */
function runFiles(runDir: string, rel = ""): string[] {
  let names: string[];
  try {
    names = readdirSync(join(runDir, rel));
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const name of names) {
    const path = rel ? `${rel}/${name}` : name;
    let st;
    try {
      st = statSync(join(runDir, path));
    } catch {
      continue;
    }
    if (st.isFile()) out.push(path);
    else if (st.isDirectory()) out.push(...runFiles(runDir, path));
  }
  return rel ? out : out.sort(comparePy);
}

/**
 * Appends to `log/files` the files of `runDir` added, modified or deleted since the last entry
 * of each path, with `type` (Gage's `_apply_to_files_log`).
 */
export function logRunFiles(runDir: string, metaDir: string, type: RunFileType): void {
  const previous = new Map(readFilesLog(metaDir).map((f) => [f.path, f.modified]));
  const seen = new Set<string>();
  let lines = "";
  for (const path of runFiles(runDir)) {
    seen.add(path);
    const modified = mtimeUs(join(runDir, path));
    const before = previous.get(path);
    if (modified === before) continue;
    lines += `${before === undefined ? "a" : "m"} ${type} ${modified} ${path}\n`;
  }
  // As Gage, a path once logged and now gone gets a `d` line in every later phase.
  for (const path of previous.keys()) if (!seen.has(path)) lines += `d ${type} - ${path}\n`;
  const filename = join(metaDir, "log", "files");
  mkdirSync(dirname(filename), { recursive: true });
  appendFileSync(filename, lines);
}

/**
 * Writes `manifest` (`type sha256 path` per file, in files-log order, deletions removed), making
 * each listed file read-only first. Returns the digests by path.
 */
export function writeManifest(runDir: string, metaDir: string): Map<string, string> {
  const types = new Map<string, RunFileType>();
  for (const f of readFilesLog(metaDir)) {
    if (f.event === "a") types.set(f.path, f.type);
    else if (f.event === "d") types.delete(f.path);
  }
  const digests = new Map<string, string>();
  let text = "";
  for (const [path, type] of types) {
    const filename = join(runDir, path);
    if (!lstatSync(filename).isSymbolicLink()) {
      const mode = statSync(filename).mode & 0o7777;
      if (mode & 0o222) chmodSync(filename, mode & ~0o222);
    }
    const digest = sha256File(filename);
    digests.set(path, digest);
    text += `${type} ${digest} ${path}\n`;
  }
  const manifest = join(metaDir, "manifest");
  try {
    chmodSync(manifest, 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  writeFileSync(manifest, text);
  return digests;
}

/** The digests in a run's current `manifest`, by path (empty when there is none). */
export function readManifest(metaDir: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(join(metaDir, "manifest"), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return new Map();
    throw err;
  }
  const digests = new Map<string, string>();
  for (const line of text.split("\n")) {
    const [, digest, ...path] = line.split(" ");
    if (digest && path.length) digests.set(path.join(" "), digest);
  }
  return digests;
}

function sha256File(filename: string): string {
  const hash = createHash("sha256");
  const fd = openSync(filename, "r");
  try {
    const buf = Buffer.alloc(1 << 20);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}
