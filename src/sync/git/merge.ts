import { EMPTY_TREE_OID, encodeTree, hashObject, type GitOid, type GitTreeEntry } from "../../remotes/git/objects.js";

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

/** Reads a Git tree's entries (checked as every tree from a remote is). */
export type ReadGitTree = (oid: GitOid, where: string) => Promise<GitTreeEntry[]>;

/** A folder merged file by file: its tree, and the trees made that neither side holds (to store). */
export interface TreeMerge {
  oid: GitOid;
  made: Map<GitOid, Buffer>;
}

/**
 * A run folder both sides changed since `base`, merged file by file (pure; trees read through
 * `read`): a file only one side changed takes that side's, folders merge inside, and a file both
 * changed differently (or a file one side made a folder) is a conflict named by its path under
 * `prefix`. With `preferOurs` (`--force`) such a file keeps this side's. No base (the record lost)
 * makes every file that differs one both changed.
 */
export async function mergeTrees(read: ReadGitTree, base: GitOid | undefined, ours: GitOid, theirs: GitOid, prefix: string, preferOurs: boolean): Promise<TreeMerge | { conflicts: string[] }> {
  const made = new Map<GitOid, Buffer>();
  const conflicts: string[] = [];
  const same = (a: GitTreeEntry | undefined, b: GitTreeEntry | undefined) => a?.mode === b?.mode && a?.oid === b?.oid;
  const entries = async (oid: GitOid | undefined, where: string) => new Map((oid === undefined ? [] : await read(oid, where)).map((e) => [e.name, e]));
  const merge = async (b: GitOid | undefined, o: GitOid, t: GitOid, path: string): Promise<GitOid> => {
    const [be, oe, te] = [await entries(b, path), await entries(o, path), await entries(t, path)];
    const out: GitTreeEntry[] = [];
    for (const name of new Set([...oe.keys(), ...te.keys()])) {
      const [B, O, T] = [be.get(name), oe.get(name), te.get(name)];
      let pick: GitTreeEntry | undefined;
      if (same(O, T) || same(T, B)) pick = O;
      else if (same(O, B)) pick = T;
      else if (O?.mode === "40000" && T?.mode === "40000") {
        const oid = await merge(B?.mode === "40000" ? B.oid : undefined, O.oid, T.oid, `${path}/${name}`);
        if (oid !== EMPTY_TREE_OID) pick = { mode: "40000", name, oid };
      } else if (preferOurs) pick = O;
      else conflicts.push(`${path}/${name}`);
      if (pick !== undefined) out.push(pick);
    }
    if (out.length === 0) return EMPTY_TREE_OID;
    const data = encodeTree(out);
    const oid = hashObject("tree", data);
    made.set(oid, data);
    return oid;
  };
  const oid = await merge(base, ours, theirs, prefix);
  return conflicts.length > 0 ? { conflicts: conflicts.sort() } : { oid, made };
}
