import { readFile, realpath, rm } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { writeFileAtomic } from "./atomic-write.js";
import { RunMetaError } from "./errors.js";

const SCHEME = "file:";

/**
 * Writes `ID.project` as `file:/abs/dir` (no newline, mode 0644), atomically. Local only: no
 * transfer ever sends, overwrites or deletes it.
 */
export async function writeProjectRef(projectFile: string, projectDir: string): Promise<void> {
  if (!isAbsolute(projectDir)) throw new TypeError(`project dir must be absolute: ${projectDir}`);
  await writeFileAtomic(projectFile, SCHEME + projectDir, 0o644);
}

/**
 * The project directory a run is associated with, or undefined when `ID.project` is absent.
 * Gage may write a path relative to the runs directory; it is resolved, and symlinks are resolved
 * when the directory exists (as Python's `realpath`). A file that is not a `file:` reference
 * throws `RunMetaError`.
 */
export async function readProjectRef(projectFile: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(projectFile, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new RunMetaError(projectFile, `Cannot read project reference ${projectFile}: ${(err as Error).message}`, { cause: err });
  }
  const uri = text.trimEnd();
  if (!uri.startsWith(SCHEME)) {
    throw new RunMetaError(projectFile, `Unexpected project reference encoding in ${projectFile}`);
  }
  const dir = resolve(dirname(projectFile), uri.slice(SCHEME.length));
  try {
    return await realpath(dir);
  } catch {
    return dir;
  }
}

/** Removes `ID.project`; absent is fine. */
export async function removeProjectRef(projectFile: string): Promise<void> {
  await rm(projectFile, { force: true });
}
