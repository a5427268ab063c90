import { mkdir, readdir } from "node:fs/promises";
import { UsageError } from "../errors.js";
import type { Storage } from "../remotes/storage.js";
import { writeDefaultRemote } from "../state/index.js";
import { recordedRemote } from "./remote.js";
import { planPull, type PullResult } from "./pull.js";
import type { SyncOptions, TransferPlan } from "./session.js";

export interface CloneOptions extends Omit<SyncOptions, "remote"> {
  /** A configured remote name, URL or path, or an open `Storage` (its URL is recorded). */
  remote: string | Storage;
}

/**
 * Plans a clone: `runsDir` must be absent or empty; it is created, the remote recorded as its
 * default remote, and executing the plan pulls the selected runs (all by default) into it.
 * @throws UsageError when `runsDir` exists and is not empty.
 */
export async function planClone(opts: CloneOptions): Promise<TransferPlan<PullResult>> {
  let existing: string[] = [];
  try {
    existing = await readdir(opts.runsDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  if (existing.length > 0) {
    throw new UsageError(`Cannot clone into ${opts.runsDir}: it is not empty`, { hint: "Name a new or empty folder: gage clone REMOTE DIR." });
  }
  const recorded = await recordedRemote(opts.remote, opts);
  await mkdir(opts.runsDir, { recursive: true });
  writeDefaultRemote(opts.runsDir, recorded);
  return planPull(opts);
}

/** Clones in one call. */
export async function clone(opts: CloneOptions): Promise<PullResult> {
  return (await planClone(opts)).execute();
}
