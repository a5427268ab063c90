import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic-write.js";
import { RunMetaError } from "./errors.js";
import { pythonJsonDumps } from "./py-json.js";
import { readRegularFileSync, refuseSymlinks } from "./regular-file.js";

/** One change in a run's `ID.user/` log (docs/gage-format.md §6). */
export interface UserLogEntry {
  author: string;
  set: Record<string, unknown>;
  delete: string[];
}

export const UNKNOWN_AUTHOR = "__unknown__";

const HEX = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A log id: a ULID (48-bit epoch-ms timestamp, then random bits) written as a UUID with the
 * version nibble forced to 4 and the variant to `10xx`, as Python's `ULID.to_uuid4()`.
 * Lexical order of ids is time order.
 */
export function newLogId(ms: number, random: () => Uint8Array = () => randomBytes(10)): string {
  if (!Number.isInteger(ms) || ms < 0 || ms >= 2 ** 48) throw new RangeError(`bad log timestamp: ${ms}`);
  const bytes = new Uint8Array(16);
  let t = ms;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = t % 256;
    t = Math.floor(t / 256);
  }
  const rand = random();
  if (rand.length < 10) throw new RangeError("random() must return at least 10 bytes");
  bytes.set(rand.subarray(0, 10), 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Buffer.from(bytes).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The epoch-ms timestamp in a log id (its first 48 bits). */
export function logIdTimestamp(logId: string): number {
  return Number.parseInt(logId.slice(0, 8) + logId.slice(9, 13), 16);
}

let lastMs = -1;

/**
 * Appends one change to a run's user log and returns the new file's name (`{logId}.json`).
 *
 * The name's timestamp is `nowMs`, pushed forward when needed so that names are strictly
 * increasing within this process (as Gage's `now_ms`) and later than every entry already in the
 * log: a change made after seeing a state sorts after it even when another machine's clock ran
 * ahead. The file is written as Python's `json.dump` would (key order author, set, delete; no
 * newline), under a temporary name, renamed into place, mode 0444. The directory is created
 * when missing; a symlink in its place is refused (`RunSymlinkError`).
 */
export async function appendUserLog(
  userDir: string,
  change: { set?: Record<string, unknown>; delete?: string[] },
  opts: { author: string; nowMs: number; random?: () => Uint8Array },
): Promise<string> {
  refuseSymlinks([userDir]);
  await mkdir(userDir, { recursive: true });
  const newest = logFileNames(userDir).at(-1);
  let ms = Math.max(Math.floor(opts.nowMs), lastMs + 1);
  if (newest !== undefined && HEX.test(newest.slice(0, -5))) {
    ms = Math.max(ms, logIdTimestamp(newest) + 1);
  }
  lastMs = ms;
  const name = `${newLogId(ms, opts.random)}.json`;
  const entry = { author: opts.author, set: change.set ?? {}, delete: change.delete ?? [] };
  await writeFileAtomic(join(userDir, name), pythonJsonDumps(entry), 0o444);
  return name;
}

function logFileNames(userDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(userDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  return names.filter((n) => n.endsWith(".json") && !n.startsWith(".")).sort();
}

/**
 * The entries of a user log in name (= time) order. A missing directory is an empty log.
 * An entry that cannot be read or parsed throws `RunMetaError`, unless `onWarning` is given:
 * then it is reported and skipped.
 */
export async function readUserLog(
  userDir: string,
  opts: { onWarning?: (msg: string) => void } = {},
): Promise<Array<{ name: string; entry: UserLogEntry }>> {
  const out: Array<{ name: string; entry: UserLogEntry }> = [];
  for (const name of logFileNames(userDir)) {
    const path = join(userDir, name);
    try {
      out.push({ name, entry: parseUserLogEntry(readRegularFileSync(path).toString("utf8"), path) });
    } catch (err) {
      const e = err instanceof RunMetaError ? err : new RunMetaError(path, `Cannot read user log entry ${path}: ${(err as Error).message}`, { cause: err });
      if (!opts.onWarning) throw e;
      opts.onWarning(`${e.message} (skipped)`);
    }
  }
  return out;
}

/** Parses one log file's text; missing fields default as in Gage. */
export function parseUserLogEntry(text: string, path = "<entry>"): UserLogEntry {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new RunMetaError(path, `Invalid JSON in user log entry ${path}`, { cause: err });
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new RunMetaError(path, `User log entry ${path} is not a JSON object`);
  }
  const d = data as Record<string, unknown>;
  const set = d.set ?? {};
  const del = d.delete ?? [];
  if (typeof set !== "object" || set === null || Array.isArray(set)) {
    throw new RunMetaError(path, `User log entry ${path}: "set" is not an object`);
  }
  if (!Array.isArray(del) || del.some((x) => typeof x !== "string")) {
    throw new RunMetaError(path, `User log entry ${path}: "delete" is not a list of names`);
  }
  return {
    author: typeof d.author === "string" ? d.author : UNKNOWN_AUTHOR,
    set: set as Record<string, unknown>,
    delete: del as string[],
  };
}

/** A run's user attributes: the entries applied in order (`set` overwrites, `delete` removes). */
export function applyUserLog(entries: Iterable<UserLogEntry | { name: string; entry: UserLogEntry }>): Record<string, unknown> {
  const attrs: Record<string, unknown> = {};
  for (const item of entries) {
    const entry = "entry" in item ? item.entry : item;
    // Own properties even for a `__proto__` key (JSON.parse makes it one): assignment would set
    // the attributes' prototype from a log entry another user wrote.
    for (const [name, value] of Object.entries(entry.set)) Object.defineProperty(attrs, name, { value, enumerable: true, writable: true, configurable: true });
    for (const name of entry.delete) delete attrs[name];
  }
  return attrs;
}
