import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { runPaths } from "../../src/runs/layout.js";
import { listRuns } from "../../src/runs/run.js";
import { verify } from "../../src/sync/verify.js";
import { fingerprintDir } from "./verify-damage.js";
import { freshCases, SHARED_RUN } from "./story.js";

const fresh = freshCases("gage-sync-verify-local-");
const BIG_RUN = "ffcb9078-ed64-41f7-8fc4-9d3328700bf7";
const LOG_NAME = "01900000-0000-4000-8000-000000000001.json";

function overwrite(path: string, data: string): void {
  chmodSync(join(path, ".."), 0o755);
  chmodSync(path, 0o644);
  writeFileSync(path, data);
}

test("a sound runs directory verifies clean: every finished run's files match their manifests", async () => {
  const { origin } = fresh();
  const before = fingerprintDir(origin);
  const events: number[] = [];
  const r = await verify({ runsDir: origin, local: true, onProgress: (e) => e.phase === "files" && events.push(e.items) });
  assert.equal(r.status, "ok");
  assert.deepEqual(r.problems, []);
  assert.equal(r.mode, "local");
  assert.equal(r.counts.runs, (await listRuns(origin)).length);
  assert.ok(r.counts.files > 20, `${r.counts.files} files hashed`);
  assert.equal(events.reduce((a, b) => a + b, 0), r.counts.files);
  assert.deepEqual(fingerprintDir(origin), before, "nothing in the runs directory changes");
});

test("changed, missing and odd files, a bad user log entry and unreadable meta are each one line", async () => {
  const { origin } = fresh();
  const shared = runPaths(origin, SHARED_RUN);
  overwrite(join(shared.runDir, "hello.py"), "print('tampered')\n");
  chmodSync(shared.runDir, 0o755);
  rmSync(join(shared.runDir, "gen.py"), { force: true });
  const big = runPaths(origin, BIG_RUN);
  const bigFile = readdirSync(big.runDir).find((n) => statSync(join(big.runDir, n)).isFile())!;
  chmodSync(big.runDir, 0o755);
  rmSync(join(big.runDir, bigFile), { force: true });
  // A FIFO where a file should be must be reported, never read (it would hang).
  execFileSync("mkfifo", [join(big.runDir, bigFile)]);
  chmodSync(shared.userDir, 0o755);
  writeFileSync(join(shared.userDir, LOG_NAME), "{not json");
  const other = (await listRuns(origin)).find((r) => r.id !== SHARED_RUN && r.id !== BIG_RUN)!;
  const otherPaths = runPaths(origin, other.id);
  chmodSync(otherPaths.metaDir, 0o755);
  rmSync(join(otherPaths.metaDir, "opref"), { force: true });

  const r = await verify({ runsDir: origin, local: true });
  assert.equal(r.status, "damaged");
  const byKind = (kind: string) => r.problems.filter((p) => p.kind === kind);
  const changed = byKind("file-damaged");
  assert.deepEqual(changed.map((p) => p.runs), [[SHARED_RUN], [BIG_RUN]], "by run id");
  assert.match(changed.find((p) => p.runs[0] === SHARED_RUN)!.message, /1 file differs from its manifest: hello\.py$/);
  assert.match(changed.find((p) => p.runs[0] === BIG_RUN)!.message, /not a regular file/);
  const [missing] = byKind("file-missing");
  assert.equal(missing!.severity, "missing");
  assert.deepEqual(missing!.runs, [SHARED_RUN]);
  assert.match(missing!.message, /gen\.py/);
  const [log] = byKind("user-log-invalid");
  assert.deepEqual(log!.runs, [SHARED_RUN]);
  assert.match(log!.message, new RegExp(`${LOG_NAME} \\(not JSON\\)`));
  const [meta] = byKind("meta-unreadable");
  assert.deepEqual(meta!.runs, [other.id]);
  assert.match(meta!.message, /opref/);
  assert.equal(r.problems.length, 5);

  // Naming one run checks that run alone.
  const one = await verify({ runsDir: origin, local: true, runs: [SHARED_RUN.slice(0, 8)] });
  assert.equal(one.counts.runs, 1);
  assert.ok(one.problems.every((p) => p.runs.includes(SHARED_RUN)));
  assert.equal(one.problems.length, 3);
});

test("a run whose files are all present but one is missing is exit-3 data, not damage", async () => {
  const { origin } = fresh();
  const shared = runPaths(origin, SHARED_RUN);
  chmodSync(shared.runDir, 0o755);
  rmSync(join(shared.runDir, "hello.py"));
  const r = await verify({ runsDir: origin, local: true });
  assert.equal(r.status, "missing");
  assert.deepEqual(r.problems.map((p) => [p.kind, p.runs]), [["file-missing", [SHARED_RUN]]]);
});

test("a manifest naming a path outside the run, or through a symlink, is refused without reading it", async () => {
  const { origin } = fresh();
  const shared = runPaths(origin, SHARED_RUN);
  const manifest = join(shared.metaDir, "manifest");
  overwrite(manifest, `s ${"0".repeat(64)} ../${BIG_RUN}/x\ns ${"1".repeat(64)} link/secret\n`);
  chmodSync(shared.runDir, 0o755);
  symlinkSync("/etc", join(shared.runDir, "link"));
  const r = await verify({ runsDir: origin, local: true, runs: [SHARED_RUN.slice(0, 8)] });
  assert.equal(r.status, "damaged");
  assert.deepEqual(r.problems.map((p) => p.kind).sort(), ["file-damaged", "manifest-damaged"]);
  assert.match(r.problems.find((p) => p.kind === "manifest-damaged")!.message, /'\.\.' segment/);
  assert.match(r.problems.find((p) => p.kind === "file-damaged")!.message, /link\/secret \(through a symlink\)/);
});
