import { isObjectId } from "../objects/index.js";
import { isRunId } from "../runs/layout.js";
import { StoreFormatError } from "./errors.js";
import type { TreeVersion } from "./merge.js";

/** One run's entry in a head or catalog, and the checks every such entry passes (docs/formats.md, Heads). */

const USER_NAME_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.json$/;

/** Run ids a store holds: Gage's lower-case UUIDs (they name folders on every reader's disk). */
export const isStoreRunId = (id: string): boolean => isRunId(id);

/** `ID.user/` names a store holds: Gage's time-ordered `{uuid}.json`. */
export const isUserLogName = (name: string): boolean => USER_NAME_RE.test(name);

/** What `gage ls --remote` shows without fetching files. */
export interface RunSummary {
  operation: string;
  status: string;
  /** Epoch microseconds, as Gage's meta. */
  started?: number;
  staged?: number;
  initialized?: number;
}

/** One run in one head: its trees (with what they supersede), its user log, its summary. */
export interface HeadEntry {
  runId: string;
  run: TreeVersion;
  meta: TreeVersion;
  /** `ID.user/` file name → the file's bytes (small JSON; carried inline). */
  user: Record<string, Uint8Array>;
  summary: RunSummary;
  /** Where the files' modification times are (docs/formats.md): absent in heads of earlier releases. */
  times?: EntryTimes;
  /**
   * Pack hints: the packs that hold the objects this version reaches (pack ids), so a pull of the
   * run reads those packs' indexes first. Absent in heads of earlier releases and when a version's
   * objects are in more than `MAX_PACK_HINTS` packs; never trusted for more than a hint.
   */
  packs?: string[];
}

/** Pack hints an entry carries at most (an entry that would need more carries none). */
export const MAX_PACK_HINTS = 32;

/** A version's modification times, beside its trees (never part of them: see objects/times.ts). */
export interface EntryTimes {
  /** Times object of the `run` tree's files. */
  run?: string;
  /** Times object of the `meta` tree's files. */
  meta?: string;
  /** `ID.user/` file name → its modification time (µs since the epoch). */
  user?: Record<string, number>;
}

/** A head entry as heads, catalogs and the cached view encode it. */
export function plainEntry(e: HeadEntry): unknown {
  return {
    runId: e.runId,
    run: { tree: e.run.tree, prior: [...e.run.prior] },
    meta: { tree: e.meta.tree, prior: [...e.meta.prior] },
    user: Object.fromEntries(Object.entries(e.user).map(([n, b]) => [n, Buffer.from(b)])),
    summary: e.summary,
    ...(e.times === undefined ? {} : { times: e.times }),
    ...(e.packs === undefined ? {} : { packs: e.packs.map((id) => Buffer.from(id, "hex")) }),
  };
}

/** Accepts only the forms a head may hold: a hostile remote cannot smuggle in paths or ids. */
export function checkEntry(key: string, raw: unknown): HeadEntry {
  const bad = (why: string): never => {
    throw new StoreFormatError(key, `${key} holds a malformed run entry: ${why}`);
  };
  if (typeof raw !== "object" || raw === null) bad("not a map");
  const e = raw as Record<string, unknown>;
  if (!isRunId(e.runId)) bad(`run id ${JSON.stringify(e.runId)}`);
  const tree = (t: unknown, what: string): TreeVersion => {
    const v = t as { tree?: unknown; prior?: unknown } | null;
    if (!v || !isObjectId(v.tree) || !Array.isArray(v.prior) || !v.prior.every(isObjectId)) bad(`${what} tree`);
    return { tree: v!.tree as string, prior: v!.prior as string[] };
  };
  const user = checkUser(e.user, bad);
  const summary = checkSummary(e.summary) ?? bad("summary");
  const entry: HeadEntry = { runId: e.runId as string, run: tree(e.run, "run"), meta: tree(e.meta, "meta"), user, summary };
  const times = checkTimes(e.times);
  if (times !== undefined) entry.times = times;
  const packs = checkPacks(e.packs);
  if (packs !== undefined) entry.packs = packs;
  return entry;
}

/** Pack hints are hints: a malformed or oversized list is left out, never an error. */
function checkPacks(raw: unknown): string[] | undefined {
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_PACK_HINTS) return undefined;
  const out: string[] = [];
  for (const id of raw) {
    if (!(id instanceof Uint8Array) || id.length !== 32) return undefined;
    out.push(Buffer.from(id.buffer, id.byteOffset, 32).toString("hex"));
  }
  return [...new Set(out)];
}

/**
 * The pack hints of a merged version: the union of those of the entries whose trees it kept
 * (`target`), when every such entry has some and they are at most `MAX_PACK_HINTS`.
 */
export function packHints(entries: readonly HeadEntry[], target: { run: string; meta: string }): { packs?: string[] } {
  const winners = entries.filter((e) => e.run.tree === target.run || e.meta.tree === target.meta);
  return unionOfHints(winners.map((e) => e.packs));
}

/** One list of the hints of `lists`, when each has some and together they are few enough. */
export function unionOfHints(lists: readonly (readonly string[] | undefined)[]): { packs?: string[] } {
  if (lists.length === 0 || lists.some((l) => l === undefined)) return {};
  const union = new Set(lists.flatMap((l) => l!));
  return union.size > 0 && union.size <= MAX_PACK_HINTS ? { packs: [...union] } : {};
}

/** An entry's `user` map as a head may hold it; `bad` is called with what is wrong. */
export function checkUser(raw: unknown, bad: (why: string) => never): Record<string, Uint8Array> {
  const user: Record<string, Uint8Array> = {};
  if (typeof raw !== "object" || raw === null) bad("user log");
  for (const [name, bytes] of Object.entries(raw as object)) {
    if (!USER_NAME_RE.test(name) || !(bytes instanceof Uint8Array)) bad(`user log entry ${JSON.stringify(name)}`);
    user[name] = bytes as Uint8Array;
  }
  return user;
}

/** A run summary as a head may hold it, or `undefined`. */
export function checkSummary(raw: unknown): RunSummary | undefined {
  const s = raw as Record<string, unknown> | null;
  if (typeof s !== "object" || !s || typeof s.operation !== "string" || typeof s.status !== "string") return undefined;
  const summary: RunSummary = { operation: s.operation, status: s.status };
  for (const t of ["started", "staged", "initialized"] as const) if (typeof s[t] === "number") summary[t] = s[t];
  return summary;
}

/** Times are hints: a malformed field is left out, never an error (an earlier release writes none). */
function checkTimes(raw: unknown): EntryTimes | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const t = raw as Record<string, unknown>;
  const out: EntryTimes = {};
  if (isObjectId(t.run)) out.run = t.run;
  if (isObjectId(t.meta)) out.meta = t.meta;
  if (typeof t.user === "object" && t.user !== null) {
    const user: Record<string, number> = {};
    for (const [name, us] of Object.entries(t.user)) if (USER_NAME_RE.test(name) && Number.isSafeInteger(us)) user[name] = us as number;
    if (Object.keys(user).length > 0) out.user = user;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

