import { chmod, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { RunMetaError } from "./errors.js";
import { removeProjectRef, writeProjectRef } from "./project-ref.js";
import type { Run } from "./run.js";
import { appendUserLog, newLogId } from "./user-log.js";

/** Who makes a change and when: the author of log entries and the clock (epoch ms). */
export interface ChangeContext {
  author: string;
  nowMs: number;
}

/**
 * Sets (or, with `undefined`, clears) the label of each run by appending to its user log:
 * `{"set": {"label": X}}` or `{"delete": ["label"]}`. As Gage, clearing a run that has no
 * user log writes nothing. Returns the new log file names, one per run (undefined when nothing
 * was written).
 */
export async function setLabel(runs: readonly Run[], label: string | undefined, change: ChangeContext): Promise<Array<string | undefined>> {
  const names: Array<string | undefined> = [];
  for (const run of runs) {
    if (label === undefined && !(await exists(run.paths.userDir))) {
      names.push(undefined);
      continue;
    }
    const entry = label === undefined ? { delete: ["label"] } : { set: { label } };
    names.push(await appendUserLog(run.paths.userDir, entry, change));
  }
  return names;
}

/**
 * Adds a comment to a run as Gage does: attribute `comment:{cid}` = `{msg, timestamp}`, where
 * `cid` is the first 13 characters of a log id made from `nowMs` and the log file is named from
 * a later millisecond. Returns the comment id.
 */
export async function addComment(run: Run, msg: string, change: ChangeContext): Promise<string> {
  const ms = Math.floor(change.nowMs);
  const cid = newLogId(ms).slice(0, 13);
  await appendUserLog(run.paths.userDir, { set: { [`comment:${cid}`]: { msg, timestamp: ms } } }, {
    author: change.author,
    nowMs: ms + 1,
  });
  return cid;
}

/** A run's comments, oldest first, from its user attributes. */
export function runComments(run: Pick<Run, "attrs">): Array<{ id: string; msg: string; timestamp: number | undefined }> {
  const out: Array<{ id: string; msg: string; timestamp: number | undefined }> = [];
  for (const [key, value] of Object.entries(run.attrs)) {
    if (!key.startsWith("comment:") || typeof value !== "object" || value === null) continue;
    const v = value as { msg?: unknown; timestamp?: unknown };
    out.push({
      id: key.slice("comment:".length),
      msg: typeof v.msg === "string" ? v.msg : String(v.msg ?? ""),
      timestamp: typeof v.timestamp === "number" ? v.timestamp : undefined,
    });
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Associates a run with a project directory (absolute), or removes the association. */
export async function associateProject(run: Run, projectDir: string | undefined): Promise<void> {
  if (projectDir === undefined) await removeProjectRef(run.paths.projectFile);
  else await writeProjectRef(run.paths.projectFile, projectDir);
}

/** Deletes runs as Gage does: `ID.meta` becomes `ID.meta.deleted`; the rest stays. */
export async function deleteRuns(runs: readonly Run[]): Promise<void> {
  for (const run of runs) {
    if (run.deleted) continue;
    await renameExclusive(run.paths.metaDir, run.paths.deletedMetaDir);
  }
}

/** Restores deleted runs: `ID.meta.deleted` back to `ID.meta`. */
export async function restoreRuns(runs: readonly Run[]): Promise<void> {
  for (const run of runs) {
    if (!run.deleted) continue;
    await renameExclusive(run.paths.deletedMetaDir, run.paths.metaDir);
  }
}

/**
 * Removes runs for good: the run directory, its meta (live or deleted), user log and project
 * reference. Read-only files (every finished run has them) do not stop it.
 */
export async function purgeRuns(runs: readonly Run[]): Promise<void> {
  for (const run of runs) {
    const p = run.paths;
    for (const path of [p.runDir, p.metaDir, p.deletedMetaDir, p.userDir]) await removeTree(path);
    await removeProjectRef(p.projectFile);
  }
}

async function renameExclusive(from: string, to: string): Promise<void> {
  if (await exists(to)) throw new RunMetaError(to, `Cannot move ${from}: ${to} already exists`);
  await rename(from, to);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EACCES") throw err;
    // A read-only directory (not only files) blocks removal of its entries: open it up, retry.
    await makeDirsWritable(path);
    await rm(path, { recursive: true, force: true });
  }
}

async function makeDirsWritable(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await makeDirsWritable(join(dir, entry.name));
  }
}
