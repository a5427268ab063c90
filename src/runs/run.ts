import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { RunFileError, RunMetaError, RunNotFoundError, RunsDirError } from "./errors.js";
import { DELETED_META_SUFFIX, isRunId, META_SUFFIX, runPaths, type RunPaths } from "./layout.js";
import { runName } from "./name.js";
import { NotRegularFileError, readRegularFileSync } from "./regular-file.js";
import { applyUserLog, readUserLog } from "./user-log.js";

export const META_SCHEMA = "1";

export type RunStatus = "completed" | "error" | "terminated" | "running" | "staged" | "pending" | "unknown";

export interface RunTimestamps {
  initialized?: number;
  staged?: number;
  started?: number;
  stopped?: number;
}

/** A run as read from a runs directory (Gage meta schema "1"). */
export interface Run {
  id: string;
  /** Full proquint name, e.g. `mobos-rihag`. */
  name: string;
  paths: RunPaths;
  opref: { ns: string; name: string };
  /** `ns:op`, as `gage ls` shows it. */
  operation: string;
  status: RunStatus;
  /** Epoch microseconds. */
  timestamps: RunTimestamps;
  /** User attributes: the `ID.user/` log applied in order. */
  attrs: Record<string, unknown>;
  label?: string;
  /** True when the meta lives in `ID.meta.deleted`. */
  deleted: boolean;
}

export interface ReadRunOptions {
  /** true: only a deleted run; false: only a live one; undefined: live, else deleted. */
  deleted?: boolean;
  /** Problems that do not stop the run from being read (a bad user log entry, a bad timestamp). */
  onWarning?: (msg: string) => void;
}

/** The meta directory that holds the run's metadata (live or deleted). */
export function runMetaDir(run: Pick<Run, "paths" | "deleted">): string {
  return run.deleted ? run.paths.deletedMetaDir : run.paths.metaDir;
}

/** The time `ls` sorts by: `started`, else `staged`, else `initialized` (epoch µs). */
export function runTimestamp(run: Pick<Run, "timestamps">): number | undefined {
  const t = run.timestamps;
  return t.started ?? t.staged ?? t.initialized;
}

/** Decodes `opref` text: `1 {ns} {op}`, split on the first space twice. */
export function decodeOpref(text: string): { ns: string; name: string } {
  const [schema, rest] = splitOnce(text.trimEnd(), " ");
  if (schema !== "1" || rest === undefined) throw new TypeError(`unsupported opref: ${JSON.stringify(text)}`);
  const [ns, name] = splitOnce(rest, " ");
  if (!ns || !name) throw new TypeError(`invalid opref: ${JSON.stringify(text)}`);
  return { ns, name };
}

/** Encodes an opref as Gage writes it (no newline). */
export function encodeOpref(opref: { ns: string; name: string }): string {
  if (!opref.ns || !opref.name || /\s/.test(opref.ns) || /\s/.test(opref.name)) {
    throw new TypeError(`opref parts must be non-empty without spaces: ${opref.ns} ${opref.name}`);
  }
  return `1 ${opref.ns} ${opref.name}`;
}

function splitOnce(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

// Meta files are a few bytes each and a listing reads ten per run: synchronous reads cost a
// fraction of fs.promises' four thread-pool round trips per file.
function readOptional(path: string): string | undefined {
  try {
    return readRegularFileSync(path).toString("utf8");
  } catch (err) {
    // Not skipped as unreadable meta: a FIFO or a device in a run's meta is put there on purpose.
    if (err instanceof NotRegularFileError) throw new RunFileError(path, err.why, { cause: err });
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw new RunMetaError(path, `Cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function exists(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false }) !== undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return false;
    throw new RunMetaError(path, `Cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

const TIMESTAMP_NAMES = ["initialized", "staged", "started", "stopped"] as const;

/** Reads a run from its meta directory. Throws `RunMetaError` when its meta is unreadable. */
async function readRunFromMeta(
  runsDir: string,
  dirId: string,
  deleted: boolean,
  onWarning: ((msg: string) => void) | undefined,
): Promise<Run> {
  const dirPaths = runPaths(runsDir, dirId);
  const metaDir = deleted ? dirPaths.deletedMetaDir : dirPaths.metaDir;
  const schema = readOptional(join(metaDir, "__schema__"));
  // A run being initialized has its opref before its __schema__: absent means schema 1.
  if (schema !== undefined && schema.trim() !== META_SCHEMA) {
    throw new RunMetaError(metaDir, `Unsupported meta schema ${JSON.stringify(schema.trim())} in ${metaDir}`);
  }
  const oprefText = readOptional(join(metaDir, "opref"));
  if (oprefText === undefined) throw new RunMetaError(metaDir, `Missing opref in ${metaDir}`);
  let opref: { ns: string; name: string };
  try {
    opref = decodeOpref(oprefText);
  } catch (err) {
    throw new RunMetaError(metaDir, `Invalid opref in ${metaDir}: ${JSON.stringify(oprefText)}`, { cause: err });
  }
  // The run is its folder: a meta `id` that says otherwise never names paths (another run's, or
  // one outside the runs directory); it is only reported.
  const id = dirId;
  const paths = runPaths(runsDir, id);
  const metaId = readOptional(join(metaDir, "id"))?.trim();
  if (metaId && metaId !== id) onWarning?.(`Run ${id}: its meta id file says ${JSON.stringify(metaId)}; the folder name is used`);

  const timestamps: RunTimestamps = {};
  for (const name of TIMESTAMP_NAMES) {
    const text = readOptional(join(metaDir, name));
    if (text === undefined) continue;
    const value = parseInteger(text);
    if (value === undefined) onWarning?.(`Invalid run timestamp in ${join(metaDir, name)}`);
    else timestamps[name] = value;
  }

  let exitCode: number | undefined;
  const exitText = readOptional(join(metaDir, "proc", "exit"));
  if (exitText !== undefined) {
    exitCode = parseInteger(exitText);
    if (exitCode === undefined) onWarning?.(`Invalid exit status in ${join(metaDir, "proc", "exit")}`);
  }
  const status = deriveStatus({
    exitCode,
    locked: exitCode === undefined && (exists(join(metaDir, "proc", "lock"))),
    staged: exists(join(metaDir, "staged")),
    initialized: exists(join(metaDir, "initialized")),
  });
  const attrs = applyUserLog(await readUserLog(paths.userDir, onWarning ? { onWarning } : {}));
  return makeRun({ id, paths, opref, status, timestamps, attrs, deleted });
}

/**
 * A run's status from its meta files, never stored: `proc/exit` 0 → completed, > 0 → error,
 * < 0 → terminated; else `proc/lock` → running; else `staged` → staged; else `initialized` →
 * pending; else unknown.
 */
export function deriveStatus(meta: { exitCode: number | undefined; locked: boolean; staged: boolean; initialized: boolean }): RunStatus {
  if (meta.exitCode !== undefined) return meta.exitCode === 0 ? "completed" : meta.exitCode < 0 ? "terminated" : "error";
  if (meta.locked) return "running";
  if (meta.staged) return "staged";
  if (meta.initialized) return "pending";
  return "unknown";
}

/** Builds a `Run` from what was read (from a runs directory or elsewhere): name, operation, label. */
export function makeRun(parts: Pick<Run, "id" | "paths" | "opref" | "status" | "timestamps" | "attrs" | "deleted">): Run {
  const run: Run = {
    ...parts,
    name: runName(parts.id),
    operation: `${parts.opref.ns}:${parts.opref.name}`,
  };
  if (typeof parts.attrs.label === "string") run.label = parts.attrs.label;
  return run;
}

function parseInteger(text: string): number | undefined {
  const t = text.trim();
  return /^-?\d+$/.test(t) ? Number(t) : undefined;
}

/**
 * Reads one run by its full id. Throws `RunNotFoundError` when it has no meta directory (of the
 * kind `opts.deleted` asks for) and `RunMetaError` when its meta cannot be read.
 */
export async function readRun(runsDir: string, id: string, opts: ReadRunOptions = {}): Promise<Run> {
  const paths = runPaths(runsDir, id);
  if (opts.deleted !== true && (exists(paths.metaDir))) {
    return readRunFromMeta(runsDir, id, false, opts.onWarning);
  }
  if (opts.deleted !== false && (exists(paths.deletedMetaDir))) {
    return readRunFromMeta(runsDir, id, true, opts.onWarning);
  }
  throw new RunNotFoundError(id);
}

/** The error for a runs directory that cannot be listed (`err`, from the listing). */
export function runsDirError(runsDir: string, err: unknown): RunsDirError {
  const code = (err as NodeJS.ErrnoException).code;
  const what = code === "ENOENT" ? "does not exist" : code === "ENOTDIR" ? "is not a directory" : `cannot be read (${code})`;
  return new RunsDirError(runsDir, `Runs directory ${runsDir} ${what}`, {
    cause: err,
    hint: "Set GAGE_RUNS to a runs directory, or make a run with 'gage run'.",
  });
}

/**
 * The runs in a runs directory, newest first (by `started`, else `staged`, else `initialized`).
 * `deleted: true` lists only deleted runs (`ID.meta.deleted`), as `gage ls -d`. A run whose meta
 * is unreadable or of an unknown schema is skipped and reported through `onWarning`, naming its
 * directory. Throws `RunsDirError` when the runs directory is missing or unreadable.
 */
export async function listRuns(
  runsDir: string,
  opts: { deleted?: boolean; onWarning?: (msg: string) => void } = {},
): Promise<Run[]> {
  let names: string[];
  try {
    names = readdirSync(runsDir);
  } catch (err) {
    throw runsDirError(runsDir, err);
  }
  const suffix = opts.deleted ? DELETED_META_SUFFIX : META_SUFFIX;
  const ids = names.filter((n) => n.endsWith(suffix) && n.length > suffix.length).map((n) => n.slice(0, -suffix.length));
  const runs: Run[] = [];
  for (const id of ids) {
    if (!isRunId(id)) {
      opts.onWarning?.(`Skipping ${join(runsDir, id + suffix)}: its name is not a run id`);
      continue;
    }
    try {
      runs.push(await readRunFromMeta(runsDir, id, opts.deleted === true, opts.onWarning));
    } catch (err) {
      if (!(err instanceof RunMetaError)) throw err;
      opts.onWarning?.(`Skipping run in ${join(runsDir, id + suffix)}: ${err.message}`);
    }
  }
  return sortRuns(runs);
}

/** Newest first; runs without any timestamp last; ties by id so the order is stable. */
export function sortRuns(runs: Run[]): Run[] {
  return runs.sort((a, b) => {
    const ta = runTimestamp(a);
    const tb = runTimestamp(b);
    if (ta !== tb) {
      if (ta === undefined) return 1;
      if (tb === undefined) return -1;
      return tb - ta;
    }
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  });
}
