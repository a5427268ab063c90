import { mkdir, readdir } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import { UsageError } from "../errors.js";
import type { Storage } from "../remotes/storage.js";
import { writeDefaultRemote } from "./local-state.js";
import { planPull, type PullResult } from "./pull.js";
import type { SyncOptions, TransferPlan } from "./session.js";

export interface CloneOptions extends Omit<SyncOptions, "remote"> {
  /** A configured remote name, URL or path, or an open `Storage` (its URL is recorded). */
  remote: string | Storage;
}

/** What clone records: a name or URL as given; a relative local path made absolute. */
function recordedRemote(remote: string | Storage, cwd: string | undefined): string {
  if (typeof remote !== "string") return remote.url;
  const spec = remote;
  const isUrlOrScp = /^[a-z][a-z0-9+.-]*:\/\//i.test(spec) || /^[^@/:\s]+@[^/:\s]+:/.test(spec);
  const isPath = spec.includes("/") || spec.startsWith(".");
  if (isUrlOrScp || !isPath || isAbsolute(spec) || cwd === undefined) return spec;
  return resolve(cwd, spec);
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
  await mkdir(opts.runsDir, { recursive: true });
  await writeDefaultRemote(opts.runsDir, recordedRemote(opts.remote, opts.cwd));
  return planPull(opts);
}

/** Clones in one call. */
export async function clone(opts: CloneOptions): Promise<PullResult> {
  return (await planClone(opts)).execute();
}
