import { homedir } from "node:os";
import { join, resolve } from "node:path";

/**
 * The runs directory as Gage resolves it: `$GAGE_RUNS`, else `$RUNS_HOME`, else `~/.gage/runs`.
 * Empty variables count as unset. An explicit value is returned as given (it may be relative: the
 * caller resolves it against its own working directory, which the library never reads).
 */
export function resolveRunsDir(env: NodeJS.ProcessEnv, home: string): string {
  return env.GAGE_RUNS || env.RUNS_HOME || join(home, ".gage", "runs");
}

/** The runs directory a command run in `cwd` with `env` uses, absolute. */
export function runsDirFrom(cwd: string, env: NodeJS.ProcessEnv): string {
  return resolve(cwd, resolveRunsDir(env, env.HOME || homedir()));
}
