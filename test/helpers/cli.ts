import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The built binary: e2e tests run what a user runs (`npm test` builds first). */
export const GAGE_BIN = fileURLToPath(new URL("../../dist/bundle/gage.cjs", import.meta.url));

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
  const child = options.combined
    ? spawn("sh", ["-c", 'exec "$0" "$@" 2>&1', process.execPath, GAGE_BIN, ...args], {
        cwd: options.cwd,
        env,
      })
    : spawn(process.execPath, [GAGE_BIN, ...args], { cwd: options.cwd, env });
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
