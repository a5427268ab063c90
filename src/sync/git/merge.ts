import { EMPTY_TREE_OID, type GitOid } from "../../remotes/git/objects.js";

/** Which side's folder a merge keeps: both hold the same, ours, theirs, or both changed it (a conflict). */
export type PartDecision = "same" | "ours" | "theirs" | "conflict";

/**
 * A run folder's three-way merge (pure), as the store merges a run: `base` is the Git tree both
 * sides held when they were last in sync. The side that still holds the base did not change, so
 * the other's tree fast-forwards it; a folder a side never had (the empty tree, as a part never
 * sent with `--only`) yields to any tree; two changes since the base are a true divergence.
 */
export function decidePart(ours: GitOid | undefined, theirs: GitOid | undefined, base: GitOid | undefined): PartDecision {
  const o = ours ?? EMPTY_TREE_OID;
  const t = theirs ?? EMPTY_TREE_OID;
  if (o === t) return "same";
  if (t === base || t === EMPTY_TREE_OID) return "ours";
  if (o === base || o === EMPTY_TREE_OID) return "theirs";
  return "conflict";
}

/** The sync state a pair of part decisions and the user entries on each side make (as `gage status` shows it). */
export function runState(decisions: readonly PartDecision[], oursOnly: number, theirsOnly: number): "in sync" | "ahead" | "behind" | "diverged" {
  if (decisions.includes("conflict")) return "diverged";
  const ahead = decisions.includes("ours") || oursOnly > 0;
  const behind = decisions.includes("theirs") || theirsOnly > 0;
  return ahead && behind ? "diverged" : ahead ? "ahead" : behind ? "behind" : "in sync";
}
