import type { Run } from "../runs/run.js";
import { pythonJsonDumps } from "../runs/py-json.js";
import { logIdTimestamp, newLogId, type UserLogEntry } from "../runs/user-log.js";

/** A run's two trees a viewer reads: its files (`ID/`) and its metadata (`ID.meta/`). */
export type RunPart = "files" | "meta";

export interface SourceFile {
  /** Relative, `/`-separated. */
  path: string;
  size: number;
}

/** Bytes `start` (inclusive) to `end` (exclusive) of a file of `size` bytes. */
export interface FileRead {
  size: number;
  start: number;
  end: number;
  body: AsyncIterable<Buffer>;
}

/** Who makes a change and when (the author of its user log entry, epoch ms). */
export interface ChangeContext {
  author: string;
  nowMs: number;
}

/**
 * Where `gage serve` reads runs: a runs directory, a store remote or a Git remote's branch. Every path a source is given
 * has been checked by `parseFilePath` (relative, no `.` or `..`); a source still serves regular
 * files inside the run's own tree only (never through a symlink). Not found is `undefined`.
 * Writes are user log entries only.
 */
/** What a source over a remote's storage is given: whether it closes the storage, where warnings go, its clock. */
export interface StorageSourceOptions {
  ownsStorage?: boolean;
  onWarning?: (msg: string) => void;
  now?: () => number;
}

export interface RunSource {
  /** What is served: a folder path or a remote URL (secrets redacted). */
  readonly location: string;
  readonly kind: "runs-dir" | "store" | "git";
  /** Comments and labels are refused (a Git remote's branch changes only by commits). */
  readonly readOnly?: boolean;
  /** Newest first; new runs appear within a few seconds. */
  listRuns(): Promise<readonly Run[]>;
  getRun(id: string): Promise<Run | undefined>;
  /** The run's `ID.user/` entries in name (= time) order. */
  userLog(run: Run): Promise<Array<{ name: string; entry: UserLogEntry }>>;
  /** At most `limit` files of one part, sorted by path; `truncated` when there were more. */
  listFiles(run: Run, part: RunPart, limit: number): Promise<{ files: SourceFile[]; truncated: boolean }>;
  /** A regular file's bytes; `range` is clamped to the file. */
  readFile(run: Run, part: RunPart, path: readonly string[], range?: { start: number; end?: number }): Promise<FileRead | undefined>;
  /** Appends one entry to the run's user log, named after every entry there (`newUserLogFile`). */
  appendUser(run: Run, change: UserChange, ctx: ChangeContext): Promise<void>;
  close(): Promise<void>;
}

/**
 * A file path from a URL (the raw, still encoded text after `/files/`), as segments. Refuses
 * (undefined) empty, `.` and `..` segments (encoded or not), encoded slashes, backslashes and
 * NUL: nothing a source is given can name a file outside the run's tree.
 */
export function parseFilePath(raw: string): string[] | undefined {
  if (raw === "" || raw.length > 4096) return undefined;
  const out: string[] = [];
  for (const piece of raw.split("/")) {
    let seg: string;
    try {
      seg = decodeURIComponent(piece);
    } catch {
      return undefined;
    }
    if (seg === "" || seg === "." || seg === ".." || /[/\\\0]/.test(seg)) return undefined;
    out.push(seg);
  }
  return out;
}

/** Reads a whole small file (metadata), or undefined when missing or larger than `max`. */
export async function readSmallFile(source: RunSource, run: Run, part: RunPart, path: string, max = 1 << 20): Promise<Buffer | undefined> {
  const read = await source.readFile(run, part, path.split("/"), { start: 0, end: max + 1 });
  if (read === undefined || read.size > max) return undefined;
  const parts: Buffer[] = [];
  for await (const b of read.body) parts.push(b);
  return Buffer.concat(parts);
}

export type UserChange = { set?: Record<string, unknown>; delete?: string[] };

/**
 * Adds a comment as `gage comment -m` does: attribute `comment:{cid}` = `{msg, timestamp}`, logged
 * a millisecond later. Returns the comment id.
 */
export async function addComment(source: RunSource, run: Run, msg: string, change: ChangeContext): Promise<string> {
  const ms = Math.floor(change.nowMs);
  const cid = newLogId(ms).slice(0, 13);
  await source.appendUser(run, { set: { [`comment:${cid}`]: { msg, timestamp: ms } } }, { author: change.author, nowMs: ms + 1 });
  return cid;
}

/** Sets or clears the label as `gage label` does (clearing a run without one writes nothing). */
export async function setLabel(source: RunSource, run: Run, label: string | undefined, change: ChangeContext): Promise<void> {
  if (label === undefined && run.attrs.label === undefined) return;
  await source.appendUser(run, label === undefined ? { delete: ["label"] } : { set: { label } }, change);
}

/**
 * A new user log file in Gage's form, named after every entry already there (`newest`), so it
 * sorts last even when another writer's clock ran ahead.
 */
export function newUserLogFile(newest: string | undefined, change: UserChange, ctx: ChangeContext): { name: string; bytes: Buffer } {
  const after = newest !== undefined && /^[0-9a-f-]{36}\.json$/.test(newest) ? logIdTimestamp(newest) + 1 : 0;
  const name = `${newLogId(Math.max(Math.floor(ctx.nowMs), after))}.json`;
  return { name, bytes: Buffer.from(pythonJsonDumps({ author: ctx.author, set: change.set ?? {}, delete: change.delete ?? [] })) };
}
