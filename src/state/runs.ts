import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isObjectId } from "../objects/index.js";
import { commitStateFile, readStateFile, removeStateFile } from "./files.js";
import { statePaths } from "./layout.js";
import { runsDirPrefix } from "../runs/layout.js";

/** Trees a local copy of a run has had (oldest first): what its current trees supersede. */
export interface RunHistory {
  files: string[];
  meta: string[];
}

export function readRunHistory(runsDir: string, runId: string): RunHistory {
  return parseRunHistory(readStateFile(statePaths.history(runsDir, runId)));
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
 * Records that the local copy has had (or now descends from) these trees, keeping the newest
 * `keep` of each. Not fsync'ed: a push records thousands, and a history lost in a crash only
 * makes a merge stop on a conflict that is not one, never take a divergence for a fast-forward.
 */
export function addRunHistory(runsDir: string, runId: string, add: { files: readonly string[]; meta: readonly string[] }, keep: number): void {
  const h = readRunHistory(runsDir, runId);
  const merge = (old: string[], more: readonly string[]) => {
    const out = old.filter((t) => !more.includes(t)).concat([...new Set(more)]);
    return out.slice(Math.max(0, out.length - keep));
  };
  const next = { files: merge(h.files, add.files), meta: merge(h.meta, add.meta) };
  if (JSON.stringify(next) === JSON.stringify(h)) return;
  commitStateFile(statePaths.history(runsDir, runId), JSON.stringify(next) + "\n", { durable: false });
}

/**
 * Trees a pull is writing over a run already here. Set (durably) before the first file is
 * replaced and cleared once the run is complete, so that a pull killed halfway leaves a mark: its
 * rerun (or a push) knows the half-written run is an unfinished step towards these trees.
 */
export function readPending(runsDir: string, runId: string): { files?: string; meta?: string } | undefined {
  const bytes = readStateFile(statePaths.pending(runsDir, runId));
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

export function writePending(runsDir: string, runId: string, target: { files?: string; meta?: string }): void {
  commitStateFile(statePaths.pending(runsDir, runId), JSON.stringify(target) + "\n", { durable: true });
}

export function clearPending(runsDir: string, runId: string): void {
  removeStateFile(statePaths.pending(runsDir, runId));
}


/** The names in a folder (none in one not made yet: a runs directory, the run states' folder). */
export function namesIn(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
}

/**
 * The run ids a runs directory holds now, from its names (a run's folders, meta, user log and
 * project reference): `namesIn` the runs directory, unless the caller has them.
 */
export function presentRuns(runsDir: string, names: readonly string[] = namesIn(runsDir)): Set<string> {
  const present = new Set<string>();
  for (const name of names) present.add(runOfName(name));
  return present;
}

const RUN_NAME_SUFFIXES = [".meta.deleted", ".meta", ".user", ".project"];

// Builtins, not a regular expression: a command calls this once per name, in code not yet optimized.
function runOfName(name: string): string {
  for (const suffix of RUN_NAME_SUFFIXES) if (name.endsWith(suffix)) return name.slice(0, -suffix.length);
  return name;
}

/**
 * Whether a path is of a run `runsDir` holds: what its stat cache keeps (a path elsewhere is of
 * the directory before it moved, and never looked up again).
 */
export function ofPresentRun(runsDir: string, present: ReadonlySet<string>): (path: string) => boolean {
  const prefix = runsDirPrefix(runsDir);
  // A run's folders have many rows each: each top-level name is looked up once.
  const seen = new Map<string, boolean>();
  return (path) => {
    if (!path.startsWith(prefix)) return false;
    // indexOf, not a loop over characters: thousands of rows, in code not yet optimized.
    const slash = path.indexOf("/", prefix.length);
    const nul = path.indexOf("\0", prefix.length);
    const name = path.slice(prefix.length, Math.min(slash < 0 ? path.length : slash, nul < 0 ? path.length : nul));
    let keep = seen.get(name);
    if (keep === undefined) seen.set(name, (keep = present.has(runOfName(name))));
    return keep;
  };
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
    const dir = statePaths.runs(runsDir);
    return new RunStates(dir, new Set(namesIn(dir)));
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

  /**
   * Removes the histories and pending marks of runs not in `present` (every run the runs
   * directory holds, deleted ones included): a run removed for good leaves nothing behind.
   * Returns how many files went.
   */
  prune(present: ReadonlySet<string>): number {
    let removed = 0;
    for (const name of this.#names) {
      if (!this.#gone(name, present)) continue;
      removeStateFile(join(this.#dir, name));
      this.#names.delete(name);
      removed++;
    }
    return removed;
  }

  /** Whether `prune(present)` would remove anything. */
  anyGone(present: ReadonlySet<string>): boolean {
    for (const name of this.#names) if (this.#gone(name, present)) return true;
    return false;
  }

  /** A history or pending mark of a run not in `present`. */
  #gone(name: string, present: ReadonlySet<string>): boolean {
    const m = /^(.+)\.(json|pending)$/.exec(name);
    return m !== null && !present.has(m[1]!);
  }
}
