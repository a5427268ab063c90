import { createHash } from "node:crypto";
import { join } from "node:path";

/** The folder in a runs directory where sync keeps its state (docs/formats.md, Local state). */
export const STATE_DIR = ".gage-sync";

export function stateDir(runsDir: string): string {
  return join(runsDir, STATE_DIR);
}

/** Where each state file lives: the one list of `.gage-sync/`'s files. */
export const statePaths = {
  config: (runsDir: string) => join(stateDir(runsDir), "config.json"),
  runs: (runsDir: string) => join(stateDir(runsDir), "runs"),
  history: (runsDir: string, runId: string) => join(stateDir(runsDir), "runs", `${runId}.json`),
  pending: (runsDir: string, runId: string) => join(stateDir(runsDir), "runs", `${runId}.pending`),
  remote: (runsDir: string, remoteUrl: string, kind: "view" | "in-sync" | "packs") => {
    const h = createHash("sha256").update(remoteUrl).digest("hex").slice(0, 16);
    return join(stateDir(runsDir), "remotes", `${h}.${kind}`);
  },
  /** A Git remote's fetched objects, merge bases and tree map (src/sync/git). */
  git: (runsDir: string, remoteUrl: string) => join(stateDir(runsDir), "git", createHash("sha256").update(remoteUrl).digest("hex").slice(0, 16)),
  statCache: (runsDir: string) => join(stateDir(runsDir), "stat-cache"),
  staging: (runsDir: string) => join(stateDir(runsDir), "tmp"),
};
