import { EMPTY_TREE_OID, type GitOid } from "../../remotes/git/objects.js";
import { EMPTY_TREE } from "../merge.js";
import { buildTree } from "./local-tree.js";
import type { GitSyncState } from "./state.js";

/**
 * The Git tree of a local run folder, from our tree id of it (a scan through the stat cache) when
 * this side met that tree before, else by hashing the folder (and remembered).
 */
export async function localTreeOid(state: GitSyncState, ours: string, dir: string, largeAt: number | undefined): Promise<GitOid> {
  if (ours === EMPTY_TREE) return EMPTY_TREE_OID;
  const known = state.treeOf(ours, largeAt);
  if (known !== undefined) return known;
  const { oid } = await buildTree(dir, undefined, { largeAt });
  state.noteTree(ours, largeAt, oid);
  return oid;
}
