import { UnsafePathError } from "../../objects/index.js";
import { commitTree, type GitObjectStore, type GitOid, type GitTreeEntry } from "../../remotes/git/objects.js";
import { isStoreRunId, isUserLogName } from "../heads.js";

/** A run on the branch: the Git trees of its three folders (absent when the branch lacks one). */
export interface BranchRun {
  id: string;
  files?: GitOid;
  meta?: GitOid;
  user?: GitOid;
}

/** The branch at its tip: the root's entries (kept as they are by a push) and the runs they hold. */
export interface Branch {
  tip: GitOid | undefined;
  root: GitTreeEntry[];
  runs: Map<string, BranchRun>;
}

export const README_NAME = "README.md";

export const EMPTY_BRANCH: Branch = { tip: undefined, root: [], runs: new Map() };

const PART_OF_SUFFIX: Record<string, "files" | "meta" | "user"> = { "": "files", ".meta": "meta", ".user": "user" };

/**
 * Reads the branch's root: `ID/`, `ID.meta/` and `ID.user/` are a run's folders and must be
 * folders; an `ID.project` (local-only, never shared) or anything unsafe refuses the branch
 * (`UnsafePathError`) before anything is written. Other entries (the README, a colleague's
 * `.gitattributes`) are kept by pushes and ignored otherwise.
 */
export async function readBranch(store: GitObjectStore, tip: GitOid | undefined): Promise<Branch> {
  if (tip === undefined) return EMPTY_BRANCH;
  const tree = commitTree(await store.read(tip, "commit", `commit ${tip}`), `commit ${tip}`);
  const root = await store.readTree(tree, "");
  const runs = new Map<string, BranchRun>();
  for (const entry of root) {
    const m = /^([0-9a-f-]{36})(\.meta|\.user|\.project)?$/.exec(entry.name);
    if (!m || !isStoreRunId(m[1]!)) continue;
    const id = m[1]!;
    if (m[2] === ".project") throw new UnsafePathError(entry.name, "a run's project reference is local-only and never shared; the branch holding it is refused");
    if (entry.mode !== "40000") throw new UnsafePathError(entry.name, "a run's folder is a symlink or a file on the branch; refusing to write through it");
    const run = runs.get(id) ?? { id };
    run[PART_OF_SUFFIX[m[2] ?? ""]!] = entry.oid;
    runs.set(id, run);
  }
  return { tip, root, runs };
}

/**
 * A run's `ID.user/` entries on the branch: name → blob id. Each must be a file named as Gage names
 * log entries; a symlink or a folder there is refused, other names are passed over with a warning.
 */
export async function readUserTree(store: GitObjectStore, run: BranchRun, onWarning?: (msg: string) => void): Promise<Map<string, GitOid>> {
  const out = new Map<string, GitOid>();
  if (run.user === undefined) return out;
  for (const e of await store.readTree(run.user, `${run.id}.user`)) {
    if (e.mode !== "100644" && e.mode !== "100755") throw new UnsafePathError(`${run.id}.user/${e.name}`, "a user log entry must be a file");
    if (!isUserLogName(e.name)) {
      onWarning?.(`Skipping ${run.id}.user/${e.name} on the branch: not a user log entry's name`);
      continue;
    }
    out.set(e.name, e.oid);
  }
  return out;
}
