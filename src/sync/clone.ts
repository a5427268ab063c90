import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { UsageError } from "../errors.js";
import { shortPath } from "../remotes/url.js";
import type { Storage } from "../remotes/storage.js";
import { writeDefaultRemote } from "../state/index.js";
import { recordedRemote } from "./remote.js";
import { planPull, removeTree, type PullResult } from "./pull.js";
import type { SyncOptions, TransferPlan } from "./session.js";

export interface CloneOptions extends Omit<SyncOptions, "remote"> {
  /** A configured remote name, URL or path, or an open `Storage` (its URL is recorded). */
  remote: string | Storage;
}

/**
 * Plans a clone: `runsDir` must be absent or empty; it is created, the remote recorded as its
 * default remote, and executing the plan pulls the selected runs (all by default) into it.
 * A clone that fails, or whose plan is closed without executing it (dry run), removes what it
 * created (the folder, or what it wrote in an empty one), so running it again works.
 * @throws UsageError when `runsDir` exists and is not an empty folder, or its path is too long.
 * @throws StoreNotFoundError when the remote's folder does not exist.
 */
export async function planClone(opts: CloneOptions): Promise<TransferPlan<PullResult>> {
  const existed = await checkCloneTarget(opts.runsDir);
  const recorded = await recordedRemote(opts.remote, opts);
  const undo = async () => {
    if (!existed) await removeTree(opts.runsDir);
    else for (const name of await readdir(opts.runsDir).catch(() => [])) await removeTree(join(opts.runsDir, name));
  };
  let plan: TransferPlan<PullResult>;
  try {
    await mkdir(opts.runsDir, { recursive: true });
    writeDefaultRemote(opts.runsDir, recorded);
    plan = await planPull(opts);
  } catch (err) {
    await undo();
    throw err;
  }
  let executed = false;
  return {
    ...plan,
    execute: async (onProgress) => {
      executed = true;
      try {
        return await plan.execute(onProgress);
      } catch (err) {
        await undo();
        throw err;
      }
    },
    close: async () => {
      await plan.close();
      if (!executed) await undo();
    },
  };
}

/** Whether the target exists (an empty folder); anything else there is refused. */
async function checkCloneTarget(runsDir: string): Promise<boolean> {
  const where = shortPath(runsDir);
  try {
    if ((await readdir(runsDir)).length > 0) {
      throw new UsageError(`Cannot clone into ${where}: it is not empty`, { hint: "Name a new or empty folder: gage clone REMOTE DIR." });
    }
    return true;
  } catch (err) {
    switch ((err as NodeJS.ErrnoException).code) {
      case "ENOENT":
        return false;
      case "ENOTDIR":
        throw new UsageError(`Cannot clone into ${where}: it is a file`, { hint: "Name a new or empty folder: gage clone REMOTE DIR." });
      case "ENAMETOOLONG":
        throw new UsageError(`Cannot clone into ${where}: the path is too long for this file system`, { hint: "Name a folder with a shorter path." });
      default:
        throw err;
    }
  }
}

/**
 * Clones in one call.
 * @throws ConflictError after cloning every other run, when runs diverged on the remote.
 */
export async function clone(opts: CloneOptions): Promise<PullResult> {
  const plan = await planClone(opts);
  const result = await plan.execute();
  if (plan.conflicts) throw plan.conflicts;
  return result;
}
