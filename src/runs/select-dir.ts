import { readdirSync } from "node:fs";
import { join } from "node:path";
import { RunMetaError, RunNotFoundError } from "./errors.js";
import { DELETED_META_SUFFIX, isRunId, META_SUFFIX } from "./layout.js";
import { runName } from "./name.js";
import { readRun, runsDirError, sortRuns, type Run } from "./run.js";
import { parseRunSpec } from "./select.js";

/** The run ids a runs directory lists, live (`ID.meta/`) and deleted (`ID.meta.deleted/`), from its names alone. */
export interface RunsDirListing {
  live: string[];
  deleted: string[];
}

/**
 * The names of a runs directory, as run ids. Names that are no run id are left out (a full
 * listing warns about them; a selection by id never matches them).
 * @throws RunsDirError when the directory cannot be read.
 */
export function listRunIds(runsDir: string): RunsDirListing {
  let names: string[];
  try {
    names = readdirSync(runsDir);
  } catch (err) {
    throw runsDirError(runsDir, err);
  }
  const idsOf = (suffix: string) => names.filter((n) => n.endsWith(suffix)).map((n) => n.slice(0, -suffix.length)).filter((id) => isRunId(id));
  return { live: idsOf(META_SUFFIX), deleted: idsOf(DELETED_META_SUFFIX) };
}

/**
 * True when `spec` selects by id or name prefix whatever the runs' metadata says: not an index
 * of a list of at most `count` runs, not a slice. A run's name derives from its id, so the
 * runs a prefix matches are known from the directory's names.
 */
export function isPrefixSpec(spec: string, count: number): boolean {
  return parseRunSpec(spec, count).kind === "prefix";
}

export interface SelectByNamesOptions {
  /** Problems met reading a matched run (its meta unreadable: it is skipped, as a listing skips it). */
  onWarning?: (msg: string) => void;
  /** Select from deleted runs (`ID.meta.deleted/`) instead of live ones, as `listRuns` does. */
  deleted?: boolean;
  /** A spec no live run matches may name a deleted run (by id or name prefix). */
  deletedToo?: boolean;
}

/**
 * The runs `specs` select when each is an id or name prefix: found from the directory's names,
 * and only the runs matched are read. Live runs newest first, then deleted ones, each once; the
 * same runs, in the same order, as a selection from the full listing (`listRuns`) gives.
 * `undefined` when a spec is an index or a slice (the caller lists every run).
 * @throws RunNotFoundError when a spec matches no readable run.
 */
export async function selectByNames(runsDir: string, specs: readonly string[], opts: SelectByNamesOptions = {}): Promise<{ live: Run[]; deleted: Run[]; perSpec: Run[][] } | undefined> {
  if (specs.length === 0) return undefined;
  const listing = listRunIds(runsDir);
  // The listing counts at least the runs a full read keeps: a number past it is no index there either.
  const count = opts.deleted ? listing.deleted.length : listing.live.length;
  if (!specs.every((spec) => isPrefixSpec(spec, count))) return undefined;
  const read = new Map<string, Run | null>();
  const readOne = async (id: string, deleted: boolean): Promise<Run | null> => {
    const key = `${deleted ? "d" : "l"}${id}`;
    if (read.has(key)) return read.get(key)!;
    let run: Run | null = null;
    try {
      run = await readRun(runsDir, id, { deleted, ...(opts.onWarning ? { onWarning: opts.onWarning } : {}) });
    } catch (err) {
      // Gone since the listing: as if never listed. Unreadable: skipped as a listing skips it.
      if (err instanceof RunMetaError) opts.onWarning?.(`Skipping run in ${join(runsDir, id + (deleted ? DELETED_META_SUFFIX : META_SUFFIX))}: ${err.message}`);
      else if (!(err instanceof RunNotFoundError)) throw err;
    }
    read.set(key, run);
    return run;
  };
  const matching = async (ids: readonly string[], spec: string, deleted: boolean): Promise<Run[]> => {
    const runs: Run[] = [];
    for (const id of ids) {
      if (!id.startsWith(spec) && !runName(id).startsWith(spec)) continue;
      const run = await readOne(id, deleted);
      if (run !== null) runs.push(run);
    }
    return sortRuns(runs);
  };
  const live = new Map<string, Run>();
  const deleted = new Map<string, Run>();
  const perSpec: Run[][] = [];
  for (const spec of specs) {
    let matched = opts.deleted ? [] : await matching(listing.live, spec, false);
    if (matched.length > 0) for (const r of matched) live.set(r.id, r);
    else if (opts.deletedToo || opts.deleted) {
      matched = await matching(listing.deleted, spec, true);
      for (const r of matched) deleted.set(r.id, r);
    }
    if (matched.length === 0) throw new RunNotFoundError(spec);
    perSpec.push(matched);
  }
  return { live: sortRuns([...live.values()]), deleted: sortRuns([...deleted.values()]), perSpec };
}
