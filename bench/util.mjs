import { spawn, spawnSync } from "node:child_process";
import { rm } from "node:fs/promises";

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
