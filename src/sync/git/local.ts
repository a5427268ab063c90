import { EMPTY_TREE_OID, type GitOid } from "../../remotes/git/objects.js";
import type { GitSyncState } from "../../state/index.js";
import { cachedTreeId, type StatCache } from "../../worktree/index.js";
import { EMPTY_TREE } from "../merge.js";
import { buildTree, type BuiltTree } from "./local-tree.js";

/**
 * The Git tree of a local run folder, from our tree id of it (a scan through the stat cache) when
 * this side met that tree before, else by hashing the folder (and remembered).
 */
export async function localTreeOid(state: GitSyncState, cache: StatCache, ours: string, dir: string, largeAt: number | undefined): Promise<GitOid> {
  if (ours === EMPTY_TREE) return EMPTY_TREE_OID;
  const known = state.treeOf(ours, largeAt);
  if (known !== undefined) return known;
  const built = await buildTree(dir, undefined, { largeAt });
  await noteBuiltTree(state, cache, dir, built, largeAt);
  return built.oid;
}

/**
 * Remembers which Git tree a folder became, under our tree id of the folder as the stat cache
 * answers it after the build, and only when it answers every file (each unchanged since its row,
 * made before the build: so unchanged while it was read) and the counts agree (nothing removed
 * since). A folder with symlinks is left out: the cache has no rows for their targets.
 */
export async function noteBuiltTree(state: GitSyncState, cache: StatCache, dir: string, built: BuiltTree, largeAt: number | undefined): Promise<void> {
  if (built.symlinks > 0) return;
  const after = await cachedTreeId(dir, cache);
  if (after === undefined || after.stats.files !== built.files || after.stats.symlinks !== 0) return;
  state.noteTree(after.treeId, largeAt, built.oid);
}
