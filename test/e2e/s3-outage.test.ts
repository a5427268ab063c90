// A push to S3 whose server dies partway, through the built binary: the push fails with a remote
// error, nothing of it is visible on the remote and the local runs are untouched; once the server is
// back on the same data, the rerun uploads only what is missing and a clone gets every run.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, test } from "node:test";
import { loadPackIndex, type PackIndex } from "../../src/objects/index.js";
import { openStorage } from "../../src/remotes/open.js";
import { gage } from "../helpers/cli.js";
import { CORPUS_GENERATOR, tempDir } from "../helpers/fixtures.js";
import { startS3rver, type S3rverHandle } from "../helpers/s3rver.js";
import { checkClosed } from "../sync/check.js";

const RUNS = 8;

const tmp = tempDir("gage-s3-outage-");
let s3: S3rverHandle | undefined;
let restarted: S3rverHandle | undefined;
after(async () => {
  // the restarted server serves the first one's folder: stop it before that folder goes
  await restarted?.stop();
  await s3?.stop();
  tmp.cleanup();
});

/** Every path under `dir` with its mode and the SHA-256 of its bytes (or its link target). */
function contents(dir: string, skip: (name: string) => boolean): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      if (rel === "" && skip(name)) continue;
      const p = rel === "" ? name : `${rel}/${name}`;
      const st = lstatSync(join(dir, p));
      const mode = (st.mode & 0o777).toString(8);
      if (st.isSymbolicLink()) out.set(p, `link ${readlinkSync(join(dir, p))}`);
      else if (st.isFile()) out.set(p, `${mode} ${createHash("sha256").update(readFileSync(join(dir, p))).digest("hex")}`);
      else {
        out.set(p, `dir ${mode}`);
        walk(p);
      }
    }
  };
  walk("");
  return out;
}

const syncState = (name: string) => name === ".gage-sync";
const syncStateOrProject = (name: string) => name === ".gage-sync" || name.endsWith(".project");

/**
 * Keys s3rver stores under `dir` (its folder for one prefix), as `complete` (the object and its
 * metadata written) and `partial` (an object file without metadata: a write the kill cut short).
 */
function storedKeys(dir: string): { complete: string[]; partial: string[] } {
  const complete: string[] = [];
  const partial: string[] = [];
  const walk = (rel: string) => {
    if (!existsSync(join(dir, rel))) return;
    for (const entry of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const p = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(p);
      else if (p.endsWith("._S3rver_object")) {
        const key = p.slice(0, -"._S3rver_object".length);
        (existsSync(join(dir, `${key}._S3rver_metadata.json`)) ? complete : partial).push(key);
      }
    }
  };
  walk("");
  return { complete: complete.sort(), partial: partial.sort() };
}

async function packIndexOf(url: string, env: Record<string, string>): Promise<{ index: PackIndex; runs: string[] }> {
  const storage = await openStorage(url, { env });
  try {
    return { index: await loadPackIndex(storage), runs: await checkClosed(storage) };
  } finally {
    await storage.close();
  }
}

test("a push whose S3 server is stopped partway fails clearly, and its rerun after a restart completes it", async () => {
  // Random 8 MiB checkpoints do not compress: the push writes several 16 MiB packs, one at a time.
  const runs = join(tmp.path, "runs");
  execFileSync(process.execPath, [
    CORPUS_GENERATOR,
    ...["--shape", "many-small", "--runs", String(RUNS), "--checkpoint-size", "8M", "--checkpoint-fraction", "1"],
    ...["--seed", "11", "--out", runs, "--quiet"],
  ]);
  const local = contents(runs, syncState);

  s3 = await startS3rver();
  const prefix = "team/runs";
  const url = s3.url(prefix);
  const keysDir = join(s3.directory, s3.bucket, prefix);
  const env = { ...s3.env, GAGE_RUNS: runs };

  const pushing = gage(["push", url, "-y"], { env, timeoutMs: 30_000 });
  let ended = false;
  void pushing.then(
    () => (ended = true),
    () => (ended = true),
  );
  // Stop the server while it receives a pack, after one pack and its index are stored.
  const midPack = () => {
    const keys = storedKeys(keysDir);
    return keys.complete.some((k) => k.endsWith(".idx")) && keys.partial.some((k) => k.endsWith(".pack"));
  };
  while (!midPack() && !ended) await sleep(5);
  assert.ok(!ended, "the push was still running when the server was stopped");
  await s3.kill();
  assert.equal(s3.process.signalCode, "SIGKILL", "the server was killed");

  const failed = await pushing;
  assert.equal(failed.code, 5, `exit status 5 (remote error)\n${failed.stderr}`);
  const [message, hint, ...rest] = failed.stderr.split("\n");
  assert.deepEqual(rest, [""], `a message and a hint, no trace:\n${failed.stderr}`);
  assert.ok(message!.startsWith("gage: ") && message!.includes(url), `the message names the remote: ${message}`);
  assert.ok(hint!.includes(`gage remote check ${url}`), `the hint says what to do: ${hint}`);
  assert.equal(failed.stdout, "");

  // Nothing is visible: packs only, no head. s3rver (unlike S3) keeps the pack the kill cut short,
  // truncated; it has no index, so readers never see it.
  const left = storedKeys(keysDir);
  assert.deepEqual(left.complete.filter((k) => !k.startsWith("packs/")), [], "no head or catalog is written");
  assert.ok(left.partial.every((k) => k.endsWith(".pack")), `only a pack was cut short: ${left.partial.join(", ")}`);
  assert.deepEqual(contents(runs, syncState), local, "no local file changed, .project and user logs included");

  restarted = await startS3rver({ directory: s3.directory, port: s3.port });
  const ls = await gage(["ls", "--remote", url, "--json"], { env });
  assert.equal(ls.code, 0, ls.stderr);
  assert.deepEqual(JSON.parse(ls.stdout), [], "the remote lists no run");
  const before = await packIndexOf(url, env);
  assert.deepEqual(before.runs, [], "no head names a run");
  assert.ok(before.index.packIds().length >= 1, "some packs were stored before the outage");

  const rerun = await gage(["push", url, "-y", "--json"], { env });
  assert.equal(rerun.code, 0, rerun.stderr);
  const pushed = JSON.parse(rerun.stdout) as { runs: unknown[]; result: { objects: number } };
  assert.equal(pushed.runs.length, RUNS);
  const after = await packIndexOf(url, env);
  assert.equal(after.runs.length, RUNS, "every run is on the remote, all it reaches stored");
  for (const id of before.index.packIds()) assert.ok(after.index.hasPack(id), `pack ${id} from before the outage is kept`);
  assert.equal(after.index.size, before.index.size + pushed.result.objects, "the rerun stored only objects not stored before");
  assert.equal(new Set(after.index.ids()).size, after.index.size, "no object is stored twice");
  assert.ok(pushed.result.objects > 0 && pushed.result.objects < after.index.size, "the rerun sent the rest, not everything");

  const dest = join(tmp.path, "clone");
  const cloned = await gage(["clone", url, dest], { env: s3.env });
  assert.equal(cloned.code, 0, cloned.stderr);
  assert.deepEqual(contents(dest, syncState), contents(runs, syncStateOrProject), "every run, byte for byte, and no .project");
});
