import { UsageError } from "../errors.js";
import type { Storage } from "../remotes/storage.js";
import type { RemoteContext } from "./remote.js";

// The types of `gage verify` (verify.ts), apart so that the rooms that check import no entry point.

/** `missing`: something runs need is absent (exit 3). `damaged`: present but wrong (exit 6). `notice`: not harmful. */
export type VerifySeverity = "missing" | "damaged" | "notice";

export type VerifyProblemKind =
  | "head-damaged"
  | "catalog-damaged"
  | "index-damaged"
  | "index-without-pack"
  | "pack-without-index"
  | "entry-outside-pack"
  | "object-missing"
  | "object-damaged"
  | "size-mismatch"
  | "meta-unreadable"
  | "manifest-damaged"
  | "file-missing"
  | "file-damaged"
  | "user-log-invalid";

/** One problem: one line of `gage verify`'s output. */
export interface VerifyProblem {
  severity: VerifySeverity;
  kind: VerifyProblemKind;
  /** The store key (`packs/….pack`) or runs-directory path (`ID/…`) it is about. */
  where: string;
  /** What is wrong, in one sentence. */
  message: string;
  /** Ids of the runs it affects, sorted (empty: none, or not knowable from a damaged head). */
  runs: string[];
  /** What the user can do. */
  hint: string;
  /** The objects concerned (at most `MAX_LISTED`), where it is about objects. */
  objects?: string[];
}

/** Object ids a problem lists; its message counts them all. */
export const MAX_LISTED = 20;

export interface VerifyProgressEvent {
  /** `index`: pack indexes read; `structure`: trees and chunk lists read; `data`: objects hashed; `files`: local files hashed, or (read-data) chunked files hashed whole. */
  phase: "index" | "structure" | "data" | "files";
  /** Items done since the last event. */
  items: number;
  bytes: number;
  /** Set when the phase's totals are known (`data`, `files`: at their start). */
  total?: { items: number; bytes: number };
}

export interface VerifyOptions extends RemoteContext {
  /** The local runs directory: checked with `local`, else where the default remote is recorded. */
  runsDir: string;
  /** A configured remote name, URL or path, or an open `Storage`. Omitted: the default remote. */
  remote?: string | Storage;
  /** Run specs (index, slice, id or name prefix) of the runs to check. None: all. */
  runs?: readonly string[];
  /** Read and hash every reachable object, not only the trees and chunk lists. */
  readData?: boolean;
  /** Read only part of the packs: `n/m` (the n-th of m parts, by pack id) or `p%`. Implies `readData`. */
  readDataSubset?: string;
  /** Check the runs directory instead of a remote. */
  local?: boolean;
  /** Reads in flight at once (default 4). */
  concurrency?: number;
  onProgress?: (event: VerifyProgressEvent) => void;
  onWarning?: (message: string) => void;
}

export interface VerifyCounts {
  runs: number;
  heads: number;
  catalogs: number;
  packs: number;
  /** Objects the checked runs reach. */
  objects: number;
  /** Objects read and hashed, and their stored bytes (`readData`; trees and chunk lists included). */
  readObjects: number;
  readBytes: number;
  /** `local`: files hashed against manifests, and their bytes. */
  files: number;
  fileBytes: number;
}

export interface VerifyResult {
  /** The remote's URL (secrets redacted), or the runs directory (`local`). */
  target: string;
  mode: "structure" | "read-data" | "local";
  /** `readDataSubset`: which part, and how many of the packs it selected. */
  subset?: { part: string; packs: number; of: number };
  counts: VerifyCounts;
  problems: VerifyProblem[];
  /** `damaged` when any problem is, else `missing` when any is, else `ok`. */
  status: "ok" | "missing" | "damaged";
}

export function emptyCounts(): VerifyCounts {
  return { runs: 0, heads: 0, catalogs: 0, packs: 0, objects: 0, readObjects: 0, readBytes: 0, files: 0, fileBytes: 0 };
}

export function statusOf(problems: readonly VerifyProblem[]): VerifyResult["status"] {
  if (problems.some((p) => p.severity === "damaged")) return "damaged";
  return problems.some((p) => p.severity === "missing") ? "missing" : "ok";
}

/** Which packs a subset reads: their id's first 32 bits decide, so every run picks the same ones. */
export interface PackSubset {
  part: string;
  has(packId: string): boolean;
}

/**
 * Parses `n/m` (1 ≤ n ≤ m: packs whose id's first 32 bits are n-1 modulo m, so m nightly runs
 * with n = 1…m read every pack once) or `p%` (0 < p ≤ 100: packs whose id falls in the first p
 * percent of the id space).
 * @throws UsageError for anything else.
 */
export function parseSubset(text: string): PackSubset {
  const bad = () =>
    new UsageError(`Bad --read-data-subset '${text}'`, { hint: "Give n/m (the n-th of m parts, e.g. 1/5) or a percentage (e.g. 10%)." });
  const t = text.trim();
  const prefix = (packId: string) => Number.parseInt(packId.slice(0, 8), 16);
  const frac = /^(\d+)\/(\d+)$/.exec(t);
  if (frac) {
    const n = Number(frac[1]);
    const m = Number(frac[2]);
    if (!(m >= 1 && n >= 1 && n <= m && m <= 2 ** 16)) throw bad();
    return { part: `${n}/${m}`, has: (id) => prefix(id) % m === n - 1 };
  }
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(t);
  if (pct) {
    const p = Number(pct[1]);
    if (!(p > 0 && p <= 100)) throw bad();
    return { part: `${p}%`, has: (id) => prefix(id) < (p / 100) * 2 ** 32 };
  }
  throw bad();
}
