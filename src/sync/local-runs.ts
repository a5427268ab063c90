import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { hashBytes, snapshotRun, type SnapshotStats, type ObjectSink, type StatCache } from "../objects/index.js";
import { NothingSelectedError, RunNotFoundError } from "../runs/errors.js";
import { listRuns, runMetaDir, type Run } from "../runs/run.js";
import { matchRunSpec, parseWhere } from "../runs/select.js";
import type { HeadEntry, RunSummary } from "./heads.js";
import { readRunHistory } from "./local-state.js";
import type { RunVersion } from "./merge.js";

/** A sink that stores nothing and claims everything: snapshotting with it only computes ids. */
export const idOnlySink: ObjectSink = { has: () => true, add: async () => false };

/** One local run, hashed (through the stat cache) into the form heads carry. */
export interface LocalRun {
  run: Run;
  entry: HeadEntry;
  version: RunVersion;
  stats: SnapshotStats;
}

export function runSummary(run: Run): RunSummary {
  const s: RunSummary = { operation: run.operation, status: run.status };
  for (const t of ["started", "staged", "initialized"] as const) {
    const v = run.timestamps[t];
    if (v !== undefined) s[t] = v;
  }
  return s;
}

/**
 * Computes a local run's trees and reads its user log. With `sink`, the objects the sink lacks
 * are stored as they are met (children before parents); without, nothing is stored and unchanged
 * files are answered by the stat cache.
 */
export async function scanRun(runsDir: string, run: Run, cache: StatCache, sink: ObjectSink = idOnlySink): Promise<LocalRun> {
  const { snapshot, stats } = await snapshotRun(runsDir, run.id, { sink, cache, metaDir: runMetaDir(run) });
  const user: Record<string, Uint8Array> = {};
  const userIds: Record<string, string> = {};
  for (const u of snapshot.user) {
    if (!u.name.endsWith(".json")) continue;
    const bytes = await readFile(join(run.paths.userDir, u.name));
    user[u.name] = bytes;
    userIds[u.name] = hashBytes(bytes);
  }
  const history = await readRunHistory(runsDir, run.id);
  const prior = (list: string[], current: string) => list.filter((t) => t !== current);
  const entry: HeadEntry = {
    runId: run.id,
    run: { tree: snapshot.files, prior: prior(history.files, snapshot.files) },
    meta: { tree: snapshot.meta, prior: prior(history.meta, snapshot.meta) },
    user,
    summary: runSummary(run),
  };
  return { run, entry, version: { run: entry.run, meta: entry.meta, user: userIds }, stats };
}

/**
 * The local runs a push acts on. No specs: every live run (deleted runs stay local). Specs select
 * from live runs by index, slice, id or name prefix; a spec that names a deleted run by id or
 * name selects it explicitly.
 */
export async function selectLocalRuns(
  runsDir: string,
  opts: { runs?: readonly string[]; where?: string; onWarning?: (msg: string) => void },
): Promise<Run[]> {
  const warn = opts.onWarning ? { onWarning: opts.onWarning } : {};
  const live = await listRuns(runsDir, warn);
  let selected: Run[];
  const specs = opts.runs ?? [];
  if (specs.length === 0) selected = live;
  else {
    const deleted = await listRuns(runsDir, { ...warn, deleted: true });
    const chosen = new Set<Run>();
    for (const spec of specs) {
      let matched = matchRunSpec(live, spec);
      if (matched.length === 0) matched = deleted.filter((r) => r.id.startsWith(spec) || r.name.startsWith(spec));
      if (matched.length === 0) throw new RunNotFoundError(spec);
      for (const r of matched) chosen.add(r);
    }
    selected = [...live, ...deleted].filter((r) => chosen.has(r));
  }
  if (opts.where !== undefined) {
    const test = parseWhere(opts.where);
    selected = selected.filter(test);
    if (selected.length === 0) throw new NothingSelectedError(`No runs match --where '${opts.where}'`);
  }
  return selected;
}
