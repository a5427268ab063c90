import { ConfigError } from "../../errors.js";
import type { BackendOption, BackendSettings } from "../backend.js";
import { checkOptions } from "../registry.js";

/** The branch that holds runs unless the URL (`#BRANCH`) or the config names another. */
export const DEFAULT_BRANCH = "gage-runs";

/** Files at or over this size become LFS pointers (with `lfs`) or stop the push (without). */
export const DEFAULT_MAX_FILE_SIZE = 50 * 1024 * 1024;

/** Every option a `[repos.NAME]` table of a Git remote accepts: the one place their help lives. */
export const gitOptions: readonly BackendOption[] = [
  { name: "type", help: "'git' (implied by a git+ URL or a bare repository's path)", type: "string" },
  { name: "branch", help: "The branch that holds the runs", type: "string", default: DEFAULT_BRANCH },
  { name: "username", help: "User name sent with a token (default: one GitHub, GitLab and Gitea accept)", type: "string" },
  { name: "token_env", help: "The environment variable holding the access token", type: "string" },
  { name: "author", help: "Commit author, 'Name <email>' (default: git config, else USER@HOST)", type: "string" },
  { name: "max_file_size", help: "Files at or over this many bytes go to the lfs store", type: "integer", default: DEFAULT_MAX_FILE_SIZE },
  { name: "lfs", help: "The remote (name, path or URL) that stores large files' contents", type: "string" },
];

/** Checks a Git remote's raw settings against `gitOptions`: unknown names and wrong types throw `ConfigError`. */
export function checkGitSettings(raw: Record<string, unknown>, source?: string): BackendSettings {
  const settings = checkOptions(gitOptions, "git", raw, source);
  if (settings.type !== undefined && settings.type !== "git") {
    throw new ConfigError(`A git URL${source === undefined ? "" : ` in ${source}`} cannot have type '${String(settings.type)}'`, { file: source });
  }
  return settings;
}
