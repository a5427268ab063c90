import { UsageError } from "../errors.js";
import { assertStoreExists, closeRemote, openRemote, remoteOrDefault } from "./remote.js";
import { verifyLocalRuns } from "./verify-local.js";
import { parseSubset, type VerifyOptions, type VerifyResult } from "./verify-result.js";
import { verifyStore } from "./verify-store.js";

export {
  MAX_LISTED,
  parseSubset,
  type PackSubset,
  type VerifyCounts,
  type VerifyOptions,
  type VerifyProblem,
  type VerifyProblemKind,
  type VerifyProgressEvent,
  type VerifyResult,
  type VerifySeverity,
} from "./verify-result.js";

/**
 * `gage verify`: checks that a store remote (or, with `local`, the runs directory) holds what its
 * runs need, and reports every problem found instead of stopping at the first. It reads, never
 * writes: not the remote, not the runs directory, not the local state.
 *
 * - structure (default): every head and catalog decodes and matches its name; every object the
 *   runs' current versions reach (trees, chunk lists, files, link targets) is listed by a pack
 *   index, inside its pack; trees and chunk lists are read and hashed; packs without an index and
 *   indexes without a pack are reported.
 * - `readData`: also reads and hashes every reachable object, pack by pack (one ranged read each);
 *   `readDataSubset` limits that to a deterministic part of the packs.
 * - `local`: every finished run's files against its Gage manifest, its meta, its user log.
 */

/**
 * Checks a store remote, or the runs directory with `local`, and returns every problem found.
 * Problems are the result, not errors: the call throws only when it cannot check at all.
 * @throws UsageError for bad options; ConfigError, RemoteUrlError, remote errors (AuthError...)
 *   when the remote cannot be opened or listed; RunsDirError when the runs directory is unreadable.
 */
export async function verify(opts: VerifyOptions): Promise<VerifyResult> {
  const subset = opts.readDataSubset === undefined ? undefined : parseSubset(opts.readDataSubset);
  if (opts.local) {
    if (opts.readData || subset) throw new UsageError("--local checks the runs directory; --read-data is for remotes", { hint: "Run them as two commands." });
    if (opts.remote !== undefined && opts.remote !== "") throw new UsageError("--local checks the runs directory, not a remote", { hint: "Leave out the remote, or drop --local." });
    return verifyLocalRuns(opts);
  }
  const remote = await openRemote(await remoteOrDefault(opts.runsDir, opts.remote), opts);
  try {
    await assertStoreExists(remote);
    return await verifyStore(remote.storage, remote.url, { ...opts, readData: opts.readData === true || subset !== undefined, subset });
  } finally {
    await closeRemote(remote);
  }
}
