import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { GitRemoteSpec } from "../../remotes/config.js";
import { DEFAULT_MAX_FILE_SIZE } from "../../remotes/git/options.js";
import { openGitRepo, type GitRepo } from "../../remotes/git/repo.js";
import { LfsStore } from "./lfs.js";
import type { MergeObjects } from "./merge-folder.js";
import type { SyncOptions } from "../session.js";
import { EMPTY_BRANCH, readBranch, type Branch } from "./branch.js";
import { GitSyncState, statePaths } from "../../state/index.js";
import type { GitInSync } from "./in-sync.js";
import type { RunSums } from "../in-sync.js";

/** An open Git remote with its branch as fetched, and what this runs directory remembers of it. */
export interface GitSession {
  runsDir: string;
  spec: GitRemoteSpec;
  repo: GitRepo;
  state: GitSyncState;
  branch: Branch;
  /** Files of at least this many bytes are LFS pointers on the branch (undefined: `lfs` not set). */
  largeAt: number | undefined;
  /** The companion store of large files' contents (`lfs`), opened at first use. */
  lfs: LfsStore;
  /** Objects of folders merged file by file with the branch's, made at the first merge. */
  merges?: MergeObjects;
  /** Folder removed at close (the fetch cache of a command run without a runs directory). */
  scratch: string | undefined;
  /** A whole push's rows of runs in sync, and the sums of its live runs (saved at close). */
  inSync?: { rows: GitInSync; sums: ReadonlyMap<string, RunSums> } | undefined;
}

/**
 * Opens the remote and fetches its branch (only new objects, into `.gage-sync/git/`); with
 * `fetch: false` nothing is fetched yet and `branch` is empty until `fetchBranch`.
 */
export async function openGitSession(opts: SyncOptions, spec: GitRemoteSpec, how: { fetch?: boolean } = {}): Promise<GitSession> {
  const dir = statePaths.git(opts.runsDir, spec.url);
  // A listing of a remote from a folder that is no runs directory leaves nothing behind.
  const scratch = existsSync(opts.runsDir) ? undefined : await mkdtemp(join(tmpdir(), "gage-git-"));
  try {
    const repo = await openGitRepo(spec.location, { settings: spec.settings, env: opts.env ?? {}, cacheDir: join(scratch ?? dir, "repo.git") });
    const branch = how.fetch === false ? EMPTY_BRANCH : await readBranch(repo.objects, await repo.fetch());
    const lfs = new LfsStore(spec.settings.lfs as string | undefined, opts);
    const largeAt = lfs.configured ? ((spec.settings.max_file_size as number | undefined) ?? DEFAULT_MAX_FILE_SIZE) : undefined;
    return { runsDir: opts.runsDir, spec, repo, state: GitSyncState.load(dir), branch, scratch, lfs, largeAt };
  } catch (err) {
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
    throw err;
  }
}

export async function closeGitSession(s: GitSession, save: boolean): Promise<void> {
  s.repo.objects.close();
  await s.lfs.close();
  if (s.scratch !== undefined) await rm(s.scratch, { recursive: true, force: true });
  else if (save) {
    await s.state.save();
    s.inSync?.rows.save();
  }
}

/** Fetches the branch of a session opened with `fetch: false`. */
export async function fetchBranch(s: GitSession): Promise<void> {
  s.branch = await readBranch(s.repo.objects, await s.repo.fetch());
}
