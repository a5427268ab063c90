import { readdirSync } from "node:fs";
import { digestTreesAsync, nativeListing, type TreeSums } from "../objects/dir-listing.js";
import { META_SUFFIX, pushRunFolders, runsDirPrefix } from "../runs/layout.js";

/**
 * Every run's folders of a runs directory, being summed up since the process started: the `gage`
 * command starts this before it loads the rest of itself (src/cli/bin.ts), so the sums, most of a
 * no-change push, run on the other cores while the command loads. A push, pull or status of that
 * runs directory takes them (`sumRuns`) instead of starting its own when it asks for most of the
 * runs (a plan of a few named runs sums those alone and stops these); a run they lack (made since)
 * is summed up then. They are sums taken at `nowMs`, as a plan's own would be taken a moment later.
 */
export interface StartedSums {
  /** The runs directory, absolute, as the command resolves it. */
  runsDir: string;
  /** Runs summed up (a `ID.meta` folder listed), three roots each: `ID/`, `ID.meta/`, `ID.user/`. */
  runIds: readonly string[];
  /** When they were started (ms since the epoch): what a folder's changes are judged settled against. */
  nowMs: number;
  sums: Promise<TreeSums>;
  /** Leaves the roots not yet begun (the command ended without taking the sums): the process need not wait for them. */
  stop: () => void;
}

/**
 * Starts summing up every run of `runsDir` on `threads` threads; `undefined` without the native
 * addon or when the directory cannot be listed (the command then reports it as it would).
 */
export function startRunSums(runsDir: string, opts: { threads: number; nowMs: number }): StartedSums | undefined {
  if (!nativeListing) return undefined;
  let names: string[];
  try {
    names = readdirSync(runsDir);
  } catch {
    return undefined;
  }
  const runIds: string[] = [];
  const roots: string[] = [];
  // As sumRuns names them, so that its lookups by path find these.
  const prefix = runsDirPrefix(runsDir);
  for (const name of names) {
    if (!name.endsWith(META_SUFFIX)) continue;
    const id = name.slice(0, -META_SUFFIX.length);
    runIds.push(id);
    pushRunFolders(roots, prefix, id);
  }
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const sums = digestTreesAsync(roots, opts.threads, stop)!;
  // Taken by the command's plan; left behind when the command stops before one.
  sums.catch(() => undefined);
  return { runsDir, runIds, nowMs: opts.nowMs, sums, stop: () => Atomics.store(stop, 0, 1) };
}
