// A reader that stops early (`gage show | head`) closes the pipe: gage must end quietly with
// 141 (128 + SIGPIPE, as a shell reports for `cat` ended the same way), never print a stack trace.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { GAGE_BIN, baseEnv } from "../helpers/cli.js";
import { tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";

const KOJON = "69696b1b-7b85-46e5-9ebc-6bcdaf57ddc1";

function collect(child: ReturnType<typeof spawn>): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe("a closed stdout ends gage quietly", () => {
  let tmp: ReturnType<typeof tempDir>;
  let runsDir: string;
  before(() => {
    tmp = tempDir("gage-epipe-");
    runsDir = unpackFixtureRuns(tmp.path);
    // Give one run 20,000 output lines: `show` then writes far more than a pipe buffer holds.
    const output = join(runsDir, `${KOJON}.meta`, "output");
    chmodSync(output, 0o755);
    for (const f of ["40_run", "40_run.index"]) rmSync(join(output, f), { force: true });
    const lines = 20_000;
    writeFileSync(join(output, "40_run"), Array.from({ length: lines }, (_, i) => `line ${i + 1} of the run's output\n`).join(""));
    const index = Buffer.alloc(lines * 9);
    for (let i = 0; i < lines; i++) index.writeBigUInt64BE(1795678960000n + BigInt(i), i * 9);
    writeFileSync(join(output, "40_run.index"), index);
  });
  after(() => tmp.cleanup());

  test("gage show | head -n 3 through a shell pipe: three lines, no error, exit 141", async () => {
    const child = spawn("bash", ["-c", `set -o pipefail; "$0" "$1" show kojon | head -n 3; echo "status \${PIPESTATUS[0]}" >&2`, process.execPath, GAGE_BIN], {
      env: baseEnv({ GAGE_RUNS: runsDir, COLUMNS: "80" }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const r = await collect(child);
    assert.equal(r.stdout.split("\n").length, 4);
    assert.match(r.stdout, /^ +69696b1b-7b85-46e5-9ebc-6bcdaf57ddc1 +\n\| proj:hello +completed \|\n/);
    assert.equal(r.stderr, "status 141\n");
  });

  test("gage run | head -n 2: the operation is stopped and its run finalized as terminated", async () => {
    const project = join(tmp.path, "loop");
    const runs = join(tmp.path, "loop-runs");
    mkdirSync(project);
    writeFileSync(join(project, "gage.toml"), `[loop]\nexec = "sh -c 'while :; do echo tick; sleep 0.01; done'"\n`);
    const child = spawn("bash", ["-c", `"$0" "$1" run loop -y | head -n 2; echo "status \${PIPESTATUS[0]}" >&2`, process.execPath, GAGE_BIN], {
      cwd: project,
      env: baseEnv({ GAGE_RUNS: runs }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const r = await collect(child);
    assert.equal(r.stdout, "tick\ntick\n");
    assert.equal(r.stderr, "status 141\n");
    const meta = readdirSync(runs).find((n) => n.endsWith(".meta"))!;
    assert.equal(readFileSync(join(runs, meta, "proc", "exit"), "utf8").trim(), "-13");
  });

  for (const args of [["ls"], ["ls", "--json"], ["show", "kojon"], ["show", "4", "--files"], ["comment", "--list", "5"], ["select", "--name"], ["--help"]]) {
    test(`gage ${args.join(" ")} with its reader gone before it writes`, async () => {
      const child = spawn(process.execPath, [GAGE_BIN, ...args], { env: baseEnv({ GAGE_RUNS: runsDir }), stdio: ["ignore", "pipe", "pipe"] });
      // Close our end at once: gage's first write meets a pipe with no reader.
      child.stdout!.destroy();
      const r = await collect(child);
      assert.deepEqual([r.code, r.signal, r.stderr], [141, null, ""]);
    });
  }
});
