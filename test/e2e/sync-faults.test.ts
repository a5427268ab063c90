import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { openStorage } from "../../src/remotes/open.js";
import { hashBytes, loadPackIndex } from "../../src/objects/index.js";
import { readUserLog, appendUserLog } from "../../src/runs/user-log.js";
import { runPaths } from "../../src/runs/layout.js";
import { clone, pull, push } from "../../src/sync/index.js";
import { baseEnv, gage, GAGE_BIN } from "../helpers/cli.js";
import { CORPUS_GENERATOR, tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";
import { checkClosed, checkVisibleRunsComplete } from "../sync/check.js";
import { listing, SHARED_RUN } from "../sync/story.js";

const tmp = tempDir("gage-sync-faults-");
let corpus: string;

before(() => {
  corpus = join(tmp.path, "corpus");
  execFileSync(process.execPath, [CORPUS_GENERATOR, "--out", corpus, "--runs", "20", "--seed", "7", "--quiet"]);
});
after(() => tmp.cleanup());

/** Starts `gage ARGS` and SIGKILLs it after `ms` (or lets it finish first). */
function killAfter(args: string[], env: Record<string, string>, ms: number): Promise<number | null> {
  const child = spawn(process.execPath, [GAGE_BIN, ...args], { env: baseEnv(env), stdio: "ignore" });
  const timer = setTimeout(() => child.kill("SIGKILL"), ms);
  return new Promise((resolve) => child.on("close", (code) => (clearTimeout(timer), resolve(code))));
}

const withoutState = (n: string) => n === ".gage-sync" || n.endsWith(".project");

test("a push killed at random points leaves only complete runs visible, and its rerun completes", async () => {
  const remote = join(tmp.path, "remote-push");
  for (let i = 0; i < 4; i++) {
    const ms = 150 + Math.floor(Math.random() * 1500);
    const code = await killAfter(["push", remote, "-y"], { GAGE_RUNS: corpus }, ms);
    const storage = await openStorage(remote);
    try {
      const runs = await checkClosed(storage);
      assert.ok(code === 0 ? runs.length === 20 : true, `killed after ${ms} ms`);
    } finally {
      await storage.close();
    }
  }
  const r = await gage(["push", remote, "-y"], { env: { GAGE_RUNS: corpus } });
  assert.equal(r.code, 0, r.stderr);
  const storage = await openStorage(remote);
  try {
    assert.equal((await checkClosed(storage)).length, 20);
  } finally {
    await storage.close();
  }
  const dest = join(tmp.path, "after-push");
  await clone({ runsDir: dest, remote });
  assert.deepEqual(listing(dest), listing(corpus, withoutState));
});

test("a clone killed at random points shows only complete runs, and a pull completes it", async () => {
  const remote = join(tmp.path, "remote-pull");
  await push({ runsDir: corpus, remote });
  for (let i = 0; i < 3; i++) {
    const dest = join(tmp.path, `killed-clone-${i}`);
    const ms = 150 + Math.floor(Math.random() * 2500);
    await killAfter(["clone", remote, dest], {}, ms);
    checkVisibleRunsComplete(corpus, dest);
    // A clone killed before it made its folder (a slow start) left nothing: pull into a new one.
    mkdirSync(dest, { recursive: true });
    const r = await gage(["pull", remote, "-y"], { env: { GAGE_RUNS: dest } });
    assert.equal(r.code, 0, `killed after ${ms} ms: ${r.stderr}`);
    assert.deepEqual(listing(dest), listing(corpus, withoutState), `killed after ${ms} ms`);
  }
});

test("a pull updating runs, killed at random points, is finished by its rerun", async () => {
  const remote = join(tmp.path, "remote-update");
  const dest = join(tmp.path, "updated");
  await push({ runsDir: corpus, remote });
  await clone({ runsDir: dest, remote });
  // Every run grows a file (as a run still running when first shared), then is pushed again.
  for (const name of readdirSync(corpus).filter((n) => n.endsWith(".meta"))) {
    const runDir = join(corpus, name.slice(0, -5));
    chmodSync(runDir, 0o755);
    writeFileSync(join(runDir, "late-output.bin"), randomBytes(200_000));
  }
  await push({ runsDir: corpus, remote });
  for (let i = 0; i < 3; i++) {
    const ms = 150 + Math.floor(Math.random() * 1500);
    await killAfter(["pull", remote, "-y"], { GAGE_RUNS: dest }, ms);
  }
  const r = await gage(["pull", remote, "-y"], { env: { GAGE_RUNS: dest } });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(listing(dest), listing(corpus, withoutState));
  const again = await gage(["push", remote, "-y"], { env: { GAGE_RUNS: dest } });
  assert.equal(again.stderr, "Nothing pushed, runs are up-to-date\n", "nothing half-written is pushed as a new version");
});

test("8 concurrent pushes of the same run with different labels all land", async () => {
  const root = join(tmp.path, "concurrent");
  mkdirSync(root);
  const origin = unpackFixtureRuns(root);
  const remote = join(root, "remote");
  await push({ runsDir: origin, remote, runs: [SHARED_RUN] });
  const labels = Array.from({ length: 8 }, (_, i) => `edit ${i + 1}`);
  const dirs = labels.map((_, i) => join(root, `editor-${i}`));
  for (const [i, dir] of dirs.entries()) {
    await clone({ runsDir: dir, remote });
    await appendUserLog(runPaths(dir, SHARED_RUN).userDir, { set: { label: labels[i] } }, { author: `editor${i}`, nowMs: Date.now() });
  }
  const results = await Promise.all(dirs.map((dir) => gage(["push", "-y"], { env: { GAGE_RUNS: dir } })));
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  await pull({ runsDir: origin, remote });
  const log = await readUserLog(runPaths(origin, SHARED_RUN).userDir);
  const set = new Set(log.map((e) => e.entry.set.label));
  for (const label of labels) assert.ok(set.has(label), `${label} present after pull`);
  assert.equal(log.length, 1 + labels.length);
});

test("a corrupted object on the remote makes pull fail naming it, writing nothing of that run", async () => {
  const root = join(tmp.path, "corrupt");
  mkdirSync(root);
  const origin = unpackFixtureRuns(root);
  const remote = join(root, "remote");
  await push({ runsDir: origin, remote, runs: [SHARED_RUN] });
  // The run's `id` meta file is an object no other run shares.
  const target = hashBytes(readFileSync(join(origin, `${SHARED_RUN}.meta`, "id")));
  const storage = await openStorage(remote);
  const loc = (await loadPackIndex(storage)).get(target)!;
  await storage.close();
  const packPath = join(remote, "packs", `${loc.packId}.pack`);
  const bytes = readFileSync(packPath);
  bytes[loc.offset] = bytes[loc.offset]! ^ 0xff;
  writeFileSync(packPath, bytes);

  const dest = join(root, "dest");
  const r = await gage(["clone", remote, dest], {});
  assert.equal(r.code, 6, r.stderr);
  assert.match(r.stderr, new RegExp(target));
  assert.equal(existsSync(dest), false, "nothing of the run is written: the failed clone removed the folder it made");
});
