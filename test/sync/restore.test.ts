import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { appendFileSync, chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { nativeListing } from "../../src/objects/index.js";
import { openStorage } from "../../src/remotes/open.js";
import { decodeHead, encodeHead, HEAD_PREFIX } from "../../src/sync/heads.js";
import { clone, gc, planPush, pull, push } from "../../src/sync/index.js";
import { baseEnv, gage, GAGE_BIN } from "../helpers/cli.js";
import { CORPUS_GENERATOR, tempDir } from "../helpers/fixtures.js";
import { listing } from "./story.js";

const tmp = tempDir("gage-restore-");
let corpus: string;
let remote: string;

before(async () => {
  corpus = join(tmp.path, "corpus");
  execFileSync(process.execPath, [CORPUS_GENERATOR, "--out", corpus, "--runs", "12", "--seed", "11", "--quiet"]);
  remote = join(tmp.path, "remote");
  await push({ runsDir: corpus, remote });
});
after(() => tmp.cleanup());

const skipState = (n: string) => n === ".gage-sync" || n.endsWith(".project");

/** Every file and symlink below the runs (state and `.project` left out) → its mtime in whole microseconds. */
function mtimes(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel))) {
      if (rel === "" && skipState(name)) continue;
      const p = rel === "" ? name : `${rel}/${name}`;
      const st = lstatSync(join(dir, p), { bigint: true });
      if (st.isDirectory()) walk(p);
      else out.set(p, Number(st.mtimeNs / 1000n));
    }
  };
  walk("");
  return out;
}

test("a cloned run's files, meta and user log files carry the pusher's modification times", async () => {
  const dest = join(tmp.path, "clone-times");
  const started = Date.now();
  await clone({ runsDir: dest, remote });
  assert.deepEqual(listing(dest), listing(corpus, skipState));
  const theirs = mtimes(corpus);
  const ours = mtimes(dest);
  assert.ok(ours.size > 12 * 10, `${ours.size} files`);
  assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort());
  for (const [path, us] of ours) assert.equal(us, theirs.get(path), path);
  // The corpus's files are years old: these are not the clone's own times.
  assert.ok([...ours.values()].every((us) => us < started * 1000), "a file kept the clone's time");
});

test("a push right after a clone reads no file: the clone left a stat cache that answers every one", async () => {
  const dest = join(tmp.path, "clone-push");
  await clone({ runsDir: dest, remote });
  const plan = await planPush({ runsDir: dest, remote });
  try {
    assert.equal(plan.runs.length, 0);
    assert.equal(plan.upToDate, 12);
    // With the addon the clone left each run's folder sums: none is even compared file by file.
    assert.equal(plan.scanned, nativeListing ? 0 : 12);
    assert.equal(plan.hashed ?? 0, 0, "a file's contents were read");
  } finally {
    await plan.close();
  }
  // The cache hides no change: a file edited in place after the clone is read, and sent.
  const run = readdirSync(dest).find((n) => n.endsWith(".meta"))!.slice(0, -".meta".length);
  const file = readdirSync(join(dest, run)).find((n) => lstatSync(join(dest, run, n)).isFile())!;
  chmodSync(join(dest, run, file), 0o644);
  appendFileSync(join(dest, run, file), "edited after the clone\n");
  const after = await planPush({ runsDir: dest, remote });
  try {
    assert.deepEqual(after.runs.map((r) => r.id), [run]);
    assert.ok((after.hashed ?? 0) >= 1);
  } finally {
    await after.close();
  }
});

test("a pull of new runs into a runs directory restores their times, and gc keeps the times objects", async () => {
  const dest = join(tmp.path, "pull-times");
  const ids = readdirSync(corpus).filter((n) => n.endsWith(".meta")).map((n) => n.slice(0, -".meta".length)).sort();
  await clone({ runsDir: dest, remote, runs: ids.slice(0, 3) });
  const result = await gc({ runsDir: dest, remote, graceMs: 0 });
  assert.equal(result.objects.unreachable, 0, "gc found the times objects unreachable");
  await pull({ runsDir: dest, remote });
  const theirs = mtimes(corpus);
  for (const [path, us] of mtimes(dest)) assert.equal(us, theirs.get(path), path);
});

test("a store whose heads carry no times (an earlier release) still clones, files stamped at clone time", async () => {
  const old = join(tmp.path, "remote-old");
  await push({ runsDir: corpus, remote: old });
  const storage = await openStorage(old);
  try {
    const keys: string[] = [];
    for await (const e of storage.list(HEAD_PREFIX)) keys.push(e.key);
    for (const key of keys) {
      const entries = decodeHead(key, await storage.getBytes(key));
      for (const e of entries) delete e.times;
      const head = encodeHead(entries, Date.now());
      await storage.put(head.key, head.bytes);
      await storage.delete(key);
    }
  } finally {
    await storage.close();
  }
  const dest = join(tmp.path, "clone-old");
  const started = Date.now();
  await clone({ runsDir: dest, remote: old });
  assert.deepEqual(listing(dest), listing(corpus, skipState));
  const some = [...mtimes(dest).values()];
  assert.ok(some.every((us) => us >= (started - 1000) * 1000), "a file got a time from nowhere");
  // Files read back as pushed.
  const run = readdirSync(corpus).find((n) => n.endsWith(".meta"))!.slice(0, -".meta".length);
  for (const name of readdirSync(join(corpus, run))) {
    if (lstatSync(join(corpus, run, name)).isFile()) assert.deepEqual(readFileSync(join(dest, run, name)), readFileSync(join(corpus, run, name)));
  }
});

test("without the native addon a clone writes the same files and times, each synced, and its first push reads none", async () => {
  const dest = join(tmp.path, "clone-js");
  const r = await gage(["clone", remote, dest], { env: { GAGE_NATIVE: "0" } });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(listing(dest), listing(corpus, skipState));
  const theirs = mtimes(corpus);
  for (const [path, us] of mtimes(dest)) assert.equal(us, theirs.get(path), path);
  const plan = await planPush({ runsDir: dest, remote });
  try {
    assert.equal(plan.runs.length, 0);
    assert.equal(plan.hashed ?? 0, 0, "a file's contents were read");
  } finally {
    await plan.close();
  }
});

test("a clone writes a folder and files whose names are not UTF-8 under their exact bytes", async () => {
  const runs = join(tmp.path, "raw-names");
  const id = readdirSync(corpus).find((n) => !n.includes(".") && n !== ".gage-sync")!;
  execFileSync("mkdir", ["-p", runs]);
  execFileSync("cp", ["-a", join(corpus, id), join(corpus, `${id}.meta`), runs]);
  const bytesPath = (...parts: Buffer[]) => Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from("/"), p])));
  const folder = bytesPath(Buffer.from(join(runs, id)), Buffer.from([0x64, 0xe9]));
  mkdirSync(folder);
  writeFileSync(bytesPath(folder, Buffer.from("ok.txt")), "plain name in a raw folder");
  writeFileSync(bytesPath(folder, Buffer.from([0x66, 0xff])), "raw name in a raw folder");
  const rawRemote = join(tmp.path, "raw-remote");
  await push({ runsDir: runs, remote: rawRemote });
  const dest = join(tmp.path, "raw-clone");
  await clone({ runsDir: dest, remote: rawRemote });
  const cloned = bytesPath(Buffer.from(join(dest, id)), Buffer.from([0x64, 0xe9]));
  assert.equal(readFileSync(bytesPath(cloned, Buffer.from("ok.txt")), "utf8"), "plain name in a raw folder");
  assert.equal(readFileSync(bytesPath(cloned, Buffer.from([0x66, 0xff])), "utf8"), "raw name in a raw folder");
  const names = (dir: Buffer) => readdirSync(dir, { encoding: "buffer" }).map((n) => n.toString("hex")).sort();
  assert.deepEqual(names(Buffer.from(join(dest, id))), names(Buffer.from(join(runs, id))));
  assert.deepEqual(names(cloned), names(folder));
});

test("a clone of a run of many folders stays within a small limit of open files (each batch holds its folders open)", async () => {
  const runs = join(tmp.path, "many-folders");
  const id = readdirSync(corpus).find((n) => !n.includes(".") && n !== ".gage-sync")!;
  execFileSync("mkdir", ["-p", runs]);
  execFileSync("cp", ["-a", join(corpus, id), join(corpus, `${id}.meta`), runs]);
  for (let i = 0; i < 1200; i++) {
    mkdirSync(join(runs, id, "parts", `p${i}`), { recursive: true });
    writeFileSync(join(runs, id, "parts", `p${i}`, "x.txt"), `part ${i}\n`);
  }
  const manyRemote = join(tmp.path, "many-folders-remote");
  await push({ runsDir: runs, remote: manyRemote });
  const dest = join(tmp.path, "many-folders-clone");
  // Soft and hard limit both: node cannot raise it again.
  const r = spawnSync("sh", ["-c", 'ulimit -n 700 && exec "$0" "$@"', process.execPath, GAGE_BIN, "clone", manyRemote, dest], { env: baseEnv(), encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(join(dest, id, "parts", "p1199", "x.txt"), "utf8"), "part 1199\n");
  assert.deepEqual(listing(dest), listing(runs, skipState));
});
