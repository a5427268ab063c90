import { spawn, spawnSync } from "node:child_process";
import { rm } from "node:fs/promises";

/** The `gage` command as `npm link` installs it (bin/gage), as a user runs it. */
export const GAGE = new URL("../bin/gage", import.meta.url).pathname;

/** Runs a command to completion; rejects with its stderr when it fails. */
export function run(cmd, args, { env, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    const out = [];
    const err = [];
    child.stdout.on("data", (d) => out.push(d));
    child.stderr.on("data", (d) => err.push(d));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve({ stdout: Buffer.concat(out).toString() });
      else reject(new Error(`${cmd} ${args.join(" ")} exited ${code}: ${Buffer.concat(err).toString().slice(-2000)}`));
    });
  });
}

export async function timed(fn) {
  const t0 = performance.now();
  const result = await fn();
  return { ms: performance.now() - t0, ...result };
}

export function have(tool) {
  return spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status === 0;
}

export async function duBytes(path) {
  const { stdout } = await run("du", ["-sb", path]);
  return Number(stdout.split(/\s/)[0]);
}

export async function rmrf(path) {
  await run("chmod", ["-R", "u+w", path]).catch(() => undefined);
  await rm(path, { recursive: true, force: true });
}

export function human(n, unit) {
  if (unit === "ms") return n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${n.toFixed(0)} ms`;
  if (unit === "bytes") return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`;
  return String(n);
}

/** Each side's runs of a cold row (`bestOfFresh`); the best is kept. */
export const COLD_RUNS = 2;

/**
 * Makes `ctx.runsDir` anew, untimed: a copy of itself (its `.gage-sync` left out) replaces it, so
 * a run starts from runs written just before, with no state of ours, as a first push after a
 * corpus is made does; then waits out the stat cache's racy window (files changed within 2 s of
 * being read are not trusted), which also gives each side the same wait.
 */
export async function freshRunsDir(ctx) {
  const copy = `${ctx.runsDir}.fresh`;
  await rmrf(copy);
  await run("cp", ["-a", ctx.runsDir, copy]);
  await rmrf(`${copy}/.gage-sync`);
  await rmrf(ctx.runsDir);
  await run("mv", [copy, ctx.runsDir]);
  await new Promise((r) => setTimeout(r, 2500));
}

/**
 * A cold row measured as the best of `COLD_RUNS` fresh runs for every side (docs/performance.md):
 * before each run, ours and each peer's, the runs directory is made anew (`freshRunsDir`); each
 * side's function must start from a fresh destination of its own. Ours runs last in each round,
 * so that what its last run leaves (the remote, the runs directory's state) is there for the
 * rows after.
 */
export function bestOfFresh(row) {
  const fresh = (fn) => async (ctx) => {
    await freshRunsDir(ctx);
    return fn(ctx);
  };
  const peers = Object.fromEntries(Object.entries(row.peers ?? {}).map(([name, fn]) => [name, fresh(fn)]));
  return { ...row, repeat: COLD_RUNS, oursLast: true, ours: fresh(row.ours), peers };
}
