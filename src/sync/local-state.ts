import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { isObjectId } from "../objects/index.js";
import { writeFileAtomic } from "../runs/atomic-write.js";
import type { RemoteView } from "./heads.js";
import { decodeView, encodeView } from "./view-file.js";
import { MAX_PRIOR } from "./merge.js";

/**
 * What sync remembers in a runs directory, under `.gage-sync/` (Gage finds runs by their `*.meta`
 * folders, so this folder is invisible to it):
 *   config.json            { "defaultRemote": NAME-or-URL }  (set by clone, `gage remote default`)
 *   runs/<ID>.json         the trees this copy of the run has had: { "files": [...], "meta": [...] }
 *   remotes/<hash>.view    last-known heads and run states of one remote (a cache only)
 *   remotes/<hash>.in-sync runs last found in sync with it, and their folders' digests then
 *   remotes/<hash>.packs   its pack index files, so a push or pull reads only new ones
 *   stat-cache(.delta)     path, size, mtime, inode → id, so unchanged files are not re-hashed
 */
export const STATE_DIR = ".gage-sync";

export function stateDir(runsDir: string): string {
  return join(runsDir, STATE_DIR);
}

export function statCachePath(runsDir: string): string {
  return join(stateDir(runsDir), "stat-cache");
}

/**
 * A state file's bytes, or `undefined` when it does not exist. Synchronous: most are a few
 * hundred bytes, read by the thousand in one push.
 */
export function readStateFile(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Replaces a state file atomically, making its folder when needed. */
export async function writeStateFile(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(join(path, ".."), { recursive: true });
  await writeFileAtomic(path, data, 0o644);
}

export async function readDefaultRemote(runsDir: string): Promise<string | undefined> {
  const bytes = readStateFile(join(stateDir(runsDir), "config.json"));
  if (!bytes) return undefined;
  try {
    const doc = JSON.parse(bytes.toString("utf8")) as { defaultRemote?: unknown };
    return typeof doc.defaultRemote === "string" && doc.defaultRemote !== "" ? doc.defaultRemote : undefined;
  } catch {
    return undefined;
  }
}

export async function writeDefaultRemote(runsDir: string, remote: string): Promise<void> {
  await writeStateFile(join(stateDir(runsDir), "config.json"), JSON.stringify({ defaultRemote: remote }, null, 2) + "\n");
}

/** Trees a local copy of a run has had (oldest first): what its current trees supersede. */
export interface RunHistory {
  files: string[];
  meta: string[];
}

function historyPath(runsDir: string, runId: string): string {
  return join(stateDir(runsDir), "runs", `${runId}.json`);
}

export async function readRunHistory(runsDir: string, runId: string): Promise<RunHistory> {
  return parseRunHistory(readStateFile(historyPath(runsDir, runId)));
}

function parseRunHistory(bytes: Buffer | undefined): RunHistory {
  const empty: RunHistory = { files: [], meta: [] };
  if (!bytes) return empty;
  try {
    const doc = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
    const ids = (v: unknown) => (Array.isArray(v) ? v.filter(isObjectId) : []);
    return { files: ids(doc.files), meta: ids(doc.meta) };
  } catch {
    return empty;
  }
}

/**
 * The recorded state of every run at once, for a command that looks at thousands of runs: one
 * listing, then only the histories asked for (read synchronously: each is a few hundred bytes).
 */
export class RunStates {
  readonly #dir: string;
  readonly #names: Set<string>;

  private constructor(dir: string, names: Set<string>) {
    this.#dir = dir;
    this.#names = names;
  }

  static read(runsDir: string): RunStates {
    const dir = join(stateDir(runsDir), "runs");
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    return new RunStates(dir, new Set(names));
  }

  /** True when a pull into this run was interrupted (see `writePending`). */
  pending(runId: string): boolean {
    return this.#names.has(`${runId}.pending`);
  }

  /** The run's history, or undefined when none is recorded (the run was never synced). */
  history(runId: string): RunHistory | undefined {
    const name = `${runId}.json`;
    return this.#names.has(name) ? parseRunHistory(readFileSync(join(this.#dir, name))) : undefined;
  }
}

/** Records that the local copy has had (or now descends from) these trees. */
export async function addRunHistory(runsDir: string, runId: string, add: { files: readonly string[]; meta: readonly string[] }): Promise<void> {
  const h = await readRunHistory(runsDir, runId);
  const merge = (old: string[], more: readonly string[]) => {
    const out = old.filter((t) => !more.includes(t)).concat([...new Set(more)]);
    return out.slice(Math.max(0, out.length - MAX_PRIOR));
  };
  const next = { files: merge(h.files, add.files), meta: merge(h.meta, add.meta) };
  if (JSON.stringify(next) === JSON.stringify(h)) return;
  writeHistory(historyPath(runsDir, runId), JSON.stringify(next) + "\n");
}

/**
 * Replaces a history file (temp file, rename) without fsync: a push records thousands, and an
 * fsync each made that most of a first push on a real disk. A history lost in a crash is safe: it
 * only says which trees a local copy superseded, so without it a merge can stop on a conflict
 * that is not one, never take a divergence for a fast-forward.
 */
function writeHistory(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(tmp, text);
  }
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

function pendingPath(runsDir: string, runId: string): string {
  return join(stateDir(runsDir), "runs", `${runId}.pending`);
}

/**
 * Trees a pull is writing over a run already here. Set before the first file is replaced and
 * cleared once the run is complete, so that a pull killed halfway leaves a mark: its rerun (or a
 * push) knows the half-written run is an unfinished step towards these trees, not a new version.
 */
export async function readPending(runsDir: string, runId: string): Promise<{ files?: string; meta?: string } | undefined> {
  const bytes = readStateFile(pendingPath(runsDir, runId));
  if (!bytes) return undefined;
  try {
    const doc = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
    return {
      ...(isObjectId(doc.files) ? { files: doc.files } : {}),
      ...(isObjectId(doc.meta) ? { meta: doc.meta } : {}),
    };
  } catch {
    return undefined;
  }
}

export async function writePending(runsDir: string, runId: string, target: { files?: string; meta?: string }): Promise<void> {
  await writeStateFile(pendingPath(runsDir, runId), JSON.stringify(target) + "\n");
}

export async function clearPending(runsDir: string, runId: string): Promise<void> {
  await rm(pendingPath(runsDir, runId), { force: true });
}

function remoteStatePath(runsDir: string, remoteUrl: string, ext: string): string {
  const h = createHash("sha256").update(remoteUrl).digest("hex").slice(0, 16);
  return join(stateDir(runsDir), "remotes", `${h}.${ext}`);
}

/** The cached view of a remote's heads and its stamp; `undefined` when there is none yet (or unreadable). */
export async function readCachedView(runsDir: string, remoteUrl: string): Promise<{ view: RemoteView; stamp: string } | undefined> {
  const bytes = readStateFile(remoteStatePath(runsDir, remoteUrl, "view"));
  return bytes ? decodeView(bytes) : undefined;
}

/** Saves a view; returns its stamp. */
export async function writeCachedView(runsDir: string, remoteUrl: string, view: RemoteView): Promise<string> {
  const { bytes, stamp } = encodeView(view);
  await writeStateFile(remoteStatePath(runsDir, remoteUrl, "view"), bytes);
  return stamp;
}

/** Where a remote's pack index files are kept (sync/pack-index-cache.ts). */
export function packIndexCachePath(runsDir: string, remoteUrl: string): string {
  return remoteStatePath(runsDir, remoteUrl, "packs");
}

/** Where the runs last found in sync with a remote are kept (`InSyncRows`). */
export function inSyncPath(runsDir: string, remoteUrl: string): string {
  return remoteStatePath(runsDir, remoteUrl, "in-sync");
}
