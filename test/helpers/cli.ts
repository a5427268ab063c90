import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The built binary: e2e tests run what a user runs (`npm test` builds first). */
export const GAGE_BIN = fileURLToPath(new URL("../../dist/bundle/gage.cjs", import.meta.url));
/** The `gage` of `npm link`: a shell script that runs GAGE_BIN with `node` (bin/gage). */
export const GAGE_LAUNCHER = fileURLToPath(new URL("../../bin/gage", import.meta.url));

export interface GageResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface GageOptions {
  cwd?: string;
  /** Added to a clean environment (PATH, HOME, TERM=unknown, COLUMNS=60 unless given). */
  env?: Record<string, string | undefined>;
  input?: string;
  /** Merge stderr into stdout in the order written, as the scenario reads them. */
  combined?: boolean;
  /** Run this command instead of `node GAGE_BIN` (the launcher, or a link to it). */
  command?: string;
  timeoutMs?: number;
}

export function baseEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    USER: process.env.USER ?? "root",
    TERM: "unknown",
    COLUMNS: "60",
    LANG: "C.UTF-8",
    TZ: "UTC",
  };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Runs `gage ARGS...` as a child process and collects its exit code and output. */
export function gage(args: string[], options: GageOptions = {}): Promise<GageResult> {
  const env = baseEnv(options.env);
  const argv = options.command === undefined ? [process.execPath, GAGE_BIN, ...args] : [options.command, ...args];
  const child = options.combined
    ? spawn("sh", ["-c", 'exec "$0" "$@" 2>&1', ...argv], { cwd: options.cwd, env })
    : spawn(argv[0]!, argv.slice(1), { cwd: options.cwd, env });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.stdin.end(options.input ?? "");
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`gage ${args.join(" ")} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}
