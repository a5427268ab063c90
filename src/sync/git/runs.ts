import { runPaths } from "../../runs/layout.js";
import { decodeOpref, deriveStatus, makeRun, type Run, type RunTimestamps } from "../../runs/run.js";
import { applyUserLog, parseUserLogEntry } from "../../runs/user-log.js";
import type { GitObjectStore, GitTreeEntry } from "../../remotes/git/objects.js";
import { readUserTree, type BranchRun } from "./branch.js";

/** A run on a Git branch shaped as a local `Run` (its `paths` point where it would live here). */
export interface GitRemoteRun extends Run {
  branch: BranchRun;
}

const TIMESTAMPS = ["initialized", "staged", "started", "stopped"] as const;
/** Meta files a listing reads; Gage writes each in a few bytes. */
const SMALL = 4096;

/**
 * Reads what `gage ls` shows of a run on the branch: its opref, timestamps and status from a few
 * small `ID.meta/` files, its attributes from `ID.user/`. Undefined for a run with no `ID.meta/` or
 * an unreadable opref (warned), as `gage ls` passes over such a run.
 */
export async function readGitRemoteRun(store: GitObjectStore, run: BranchRun, runsDir: string, onWarning?: (msg: string) => void): Promise<GitRemoteRun | undefined> {
  if (run.meta === undefined) return undefined;
  const where = `${run.id}.meta`;
  const meta = await store.readTree(run.meta, where);
  const proc = meta.find((e) => e.name === "proc" && e.mode === "40000");
  const procEntries = proc === undefined ? [] : await store.readTree(proc.oid, `${where}/proc`);
  const text = async (entries: GitTreeEntry[], name: string, dir: string): Promise<string | undefined> => {
    const e = entries.find((x) => x.name === name && (x.mode === "100644" || x.mode === "100755"));
    if (e === undefined) return undefined;
    const data = await store.read(e.oid, "blob", `${dir}/${name}`);
    return data.length > SMALL ? undefined : data.toString("utf8");
  };
  let opref: { ns: string; name: string };
  try {
    opref = decodeOpref((await text(meta, "opref", where)) ?? "");
  } catch {
    onWarning?.(`Skipping run ${run.id} on the branch: its ${where}/opref is missing or invalid`);
    return undefined;
  }
  const timestamps: RunTimestamps = {};
  for (const name of TIMESTAMPS) {
    const value = (await text(meta, name, where))?.trim();
    if (value !== undefined && /^-?\d+$/.test(value)) timestamps[name] = Number(value);
  }
  const exitText = (await text(procEntries, "exit", `${where}/proc`))?.trim();
  const status = deriveStatus({
    exitCode: exitText !== undefined && /^-?\d+$/.test(exitText) ? Number(exitText) : undefined,
    locked: procEntries.some((e) => e.name === "lock"),
    staged: meta.some((e) => e.name === "staged"),
    initialized: meta.some((e) => e.name === "initialized"),
  });
  const log = [];
  for (const [name, oid] of [...(await readUserTree(store, run, onWarning))].sort(([a], [b]) => (a < b ? -1 : 1))) {
    try {
      log.push(parseUserLogEntry((await store.read(oid, "blob", `${run.id}.user/${name}`)).toString("utf8"), `${run.id}.user/${name}`));
    } catch (err) {
      if ((err as { code?: string }).code === "CORRUPT_OBJECT") throw err;
      onWarning?.(`${(err as Error).message} (skipped)`);
    }
  }
  const attrs = applyUserLog(log);
  return { ...makeRun({ id: run.id, paths: runPaths(runsDir, run.id), opref, status, timestamps, attrs, deleted: false }), branch: run };
}

/** True for a status Gage leaves with read-only files. */
export function isFinished(run: Pick<Run, "status">): boolean {
  return run.status === "completed" || run.status === "error" || run.status === "terminated";
}
