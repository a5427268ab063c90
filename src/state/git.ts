import { join } from "node:path";
import { isGitOid, type GitOid } from "../remotes/git/objects.js";
import { commitStateFile, readStateFile } from "./files.js";

/** The Git trees of a run's `ID/` and `ID.meta/` when both sides last held them. */
export interface SyncedRun {
  files?: GitOid;
  meta?: GitOid;
}

const TREE_KEY = /^[0-9a-f]{64}(?:\.\d+)?$/;

function treeKey(ours: string, largeAt: number | undefined): string {
  return largeAt === undefined ? ours : `${ours}.${largeAt}`;
}

/**
 * What a runs directory remembers of one Git remote, in `statePaths.git(runsDir, url)`
 * (docs/formats.md, Local state; `repo.git/` there is isomorphic-git's):
 *   synced.json  per run, the Git trees of `ID/` and `ID.meta/` when this side and the branch last
 *                held the same (or the branch's merged from this side's): the base of a three-way
 *                merge (which side changed since)
 *   trees        our tree ids (src/objects) → Git tree ids of the same folders (`ID.N` when files
 *                of N bytes or more are LFS pointers), so a scan through the stat cache tells a
 *                folder's Git tree without reading its files; a line is noted only for a folder
 *                read back from the stat cache alone after its Git tree was built
 *                (sync/git/local.ts `noteBuiltTree`), so it never names another content
 * Every file is a cache or a record of this side's own syncs; deleting the folder costs speed, and
 * a run changed on both sides since is then merged without a base (every file both changed
 * differently is a conflict).
 */
export class GitSyncState {
  readonly dir: string;
  readonly synced: Map<string, SyncedRun>;
  readonly trees: Map<string, GitOid>;
  #changed = false;

  private constructor(dir: string, synced: Map<string, SyncedRun>, trees: Map<string, GitOid>) {
    this.dir = dir;
    this.synced = synced;
    this.trees = trees;
  }

  static load(dir: string): GitSyncState {
    const synced = new Map<string, SyncedRun>();
    try {
      const doc = JSON.parse(readStateFile(join(dir, "synced.json"))?.toString("utf8") ?? "{}") as { runs?: Record<string, { files?: unknown; meta?: unknown }> };
      for (const [id, v] of Object.entries(doc.runs ?? {})) {
        const run: SyncedRun = {};
        if (isGitOid(v.files)) run.files = v.files;
        if (isGitOid(v.meta)) run.meta = v.meta;
        synced.set(id, run);
      }
    } catch {
      // A damaged record is as none: runs changed on both sides are then reported, not merged.
    }
    const trees = new Map<string, GitOid>();
    for (const line of (readStateFile(join(dir, "trees"))?.toString("latin1") ?? "").split("\n")) {
      const [ours, theirs] = line.split(" ");
      if (TREE_KEY.test(ours ?? "") && isGitOid(theirs)) trees.set(ours!, theirs);
    }
    return new GitSyncState(dir, synced, trees);
  }

  setSynced(runId: string, part: "files" | "meta", oid: GitOid): void {
    const run = this.synced.get(runId) ?? {};
    if (run[part] === oid) return;
    run[part] = oid;
    this.synced.set(runId, run);
    this.#changed = true;
  }

  /** The Git tree of our tree `ours`, when known; it depends on which files are LFS pointers. */
  treeOf(ours: string, largeAt: number | undefined): GitOid | undefined {
    return this.trees.get(treeKey(ours, largeAt));
  }

  noteTree(ours: string, largeAt: number | undefined, theirs: GitOid): void {
    const key = treeKey(ours, largeAt);
    if (this.trees.get(key) === theirs) return;
    this.trees.set(key, theirs);
    this.#changed = true;
  }

  async save(): Promise<void> {
    if (!this.#changed) return;
    const runs = Object.fromEntries([...this.synced].sort(([a], [b]) => (a < b ? -1 : 1)));
    commitStateFile(join(this.dir, "synced.json"), JSON.stringify({ version: 1, runs }) + "\n", { durable: true });
    commitStateFile(join(this.dir, "trees"), [...this.trees].map(([a, b]) => `${a} ${b}\n`).join(""), { durable: false });
    this.#changed = false;
  }
}
