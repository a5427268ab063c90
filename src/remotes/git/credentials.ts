import { execFile } from "node:child_process";
import { ConfigError } from "../../errors.js";
import type { BackendSettings } from "../backend.js";

/** The user name sent with a token when none is configured: GitHub, GitLab and Gitea accept it. */
export const TOKEN_USERNAME = "oauth2";

export interface GitCredentials {
  username: string;
  password: string;
  /** Where they were read from, for messages (never the secret itself). */
  source: string;
}

/**
 * Credentials for an HTTP(S) Git remote, first found: the variable `token_env` names, else
 * `GAGE_GIT_TOKEN` (with `GAGE_GIT_USERNAME`, else `username`, else `oauth2`), else what
 * `git credential fill` answers (a user's credential helper), else none (anonymous).
 * @throws ConfigError when `token_env` names a variable that is not set.
 */
export async function gitCredentials(url: string, settings: BackendSettings, env: NodeJS.ProcessEnv): Promise<GitCredentials | undefined> {
  const configured = settings.username as string | undefined;
  const tokenEnv = settings.token_env as string | undefined;
  if (tokenEnv !== undefined) {
    const token = env[tokenEnv];
    if (token === undefined || token === "") {
      throw new ConfigError(`token_env names ${tokenEnv}, which is not set`, { hint: `Set ${tokenEnv} to an access token for ${url}.` });
    }
    return { username: configured ?? env.GAGE_GIT_USERNAME ?? TOKEN_USERNAME, password: token, source: `the variable ${tokenEnv} (token_env)` };
  }
  const token = env.GAGE_GIT_TOKEN;
  if (token !== undefined && token !== "") {
    return { username: env.GAGE_GIT_USERNAME || configured || TOKEN_USERNAME, password: token, source: "GAGE_GIT_TOKEN" };
  }
  return credentialFill(url, configured, env);
}

/** Asks `git credential fill` without ever prompting; undefined when git or an answer is missing. */
function credentialFill(url: string, username: string | undefined, env: NodeJS.ProcessEnv): Promise<GitCredentials | undefined> {
  const u = new URL(url);
  const input = [`protocol=${u.protocol.replace(/:$/, "")}`, `host=${u.host}`, `path=${u.pathname.replace(/^\//, "")}`, ...(username ? [`username=${username}`] : []), "", ""].join("\n");
  return new Promise((resolve) => {
    const child = execFile(
      "git",
      ["-c", "credential.interactive=false", "credential", "fill"],
      { env: { ...env, GIT_TERMINAL_PROMPT: "0", GIT_ASKPASS: "", SSH_ASKPASS: "" }, timeout: 10_000 },
      (err, stdout) => {
        if (err) return resolve(undefined);
        const fields = new Map(stdout.split("\n").map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)] as const));
        const password = fields.get("password");
        if (!password) return resolve(undefined);
        resolve({ username: fields.get("username") || username || TOKEN_USERNAME, password, source: "git credential fill (your credential helper)" });
      },
    );
    child.on("error", () => resolve(undefined));
    child.stdin?.end(input);
  });
}

/** Where credentials are read from, for a message about refused or missing ones. */
export function credentialSources(settings: BackendSettings): string {
  const tokenEnv = settings.token_env as string | undefined;
  return tokenEnv !== undefined ? `the variable ${tokenEnv} (token_env)` : "token_env in [repos.NAME], GAGE_GIT_TOKEN (and GAGE_GIT_USERNAME), or a git credential helper";
}
