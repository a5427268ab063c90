import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { UnsafePathError } from "../../src/objects/errors.js";
import { ConflictError } from "../../src/sync/errors.js";
import { copyRuns, planCopy, type CopyOptions } from "../../src/sync/copy/index.js";
import { parseRunKey } from "../../src/sync/copy/keys.js";
import { MemoryStorage } from "../../src/remotes/memory/index.js";
import type { Storage } from "../../src/remotes/storage.js";
import { tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";

const CHANGED = '{"author": "x", "set": {"label": "changed on the other side"}, "delete": []}';
const SHARE = "87bd998b-bf53-4585-9afb-cc19b62871d8";
const BIG = "ffcb9078-ed64-41f7-8fc4-9d3328700bf7";
const STAGED = "8d247ec2-d50e-4ada-bab6-cae8ad850083";
const DELETED = "0dcb788a-e588-4173-9637-74a8deba065a";
const LIVE_RUNS = 9;

let tmp: { path: string; cleanup: () => void };
let n = 0;
before(() => (tmp = tempDir("gage-copy-")));
after(() => tmp.cleanup());

/** A fresh copy of the fixture runs directory and an empty place to copy to. */
function setup(): { local: string; other: string; opts: (o: Partial<CopyOptions>) => CopyOptions } {
  const dir = join(tmp.path, String(++n));
  mkdirSync(dir);
  const local = unpackFixtureRuns(dir);
  const other = join(dir, "other");
  return { local, other, opts: (o) => ({ runsDir: local, direction: "to", target: other, all: true, ...o }) };
}

/** Every file below `root`: relative path → mode and content digest. */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    const path = join(root, rel);
    const st = lstatSync(path);
    if (st.isDirectory()) for (const name of readdirSync(path)) walk(rel ? `${rel}/${name}` : name);
    else out.set(rel, `${(st.mode & 0o777).toString(8)} ${createHash("sha256").update(readFileSync(path)).digest("hex")}`);
  };
  if (existsSync(root)) walk("");
  return out;
}

function without(snap: Map<string, string>, pred: (k: string) => boolean): Map<string, string> {
  return new Map([...snap].filter(([k]) => !pred(k)));
}

const isProject = (k: string) => k.endsWith(".project");
const isDeleted = (k: string) => k.startsWith(DELETED);

test("copy --to writes every live run except .project, modes kept; a re-copy moves nothing", async () => {
  const { local, other, opts } = setup();
  const result = await copyRuns(opts({}));
  assert.equal(result.copied.length, LIVE_RUNS);
  assert.ok(result.copied.every((r) => r.what === "new"));
  assert.deepEqual(snapshot(other), without(snapshot(local), (k) => isProject(k) || isDeleted(k)));
  assert.equal(snapshot(other).get(`${BIG}/big.bin`)?.split(" ")[0], "444");

  const again = await copyRuns(opts({}));
  assert.equal(again.copied.length, 0);
  assert.equal(again.upToDate.length, LIVE_RUNS);
});

test("copy --from brings runs in; .project on the receiving side is never touched", async () => {
  const { local, other, opts } = setup();
  await copyRuns(opts({}));
  const retrieve = join(other, "..", "retrieve");
  mkdirSync(retrieve);
  writeFileSync(join(retrieve, `${SHARE}.project`), "file:/elsewhere");
  const result = await copyRuns({ runsDir: retrieve, direction: "from", target: other, all: true });
  assert.equal(result.copied.length, LIVE_RUNS);
  assert.equal(readFileSync(join(retrieve, `${SHARE}.project`), "utf8"), "file:/elsewhere");
  assert.deepEqual(without(snapshot(retrieve), isProject), without(snapshot(local), (k) => isProject(k) || isDeleted(k)));
});

test("user entries merge by union in both directions and are never replaced", async () => {
  const { local, other, opts } = setup();
  await copyRuns(opts({ runs: [SHARE] }));
  const remoteEntry = "01b00000-0000-4000-8000-000000000001.json";
  const localEntry = "01b00000-0000-4000-8000-000000000002.json";
  writeFileSync(join(other, `${SHARE}.user`, remoteEntry), '{"author": "b", "set": {"label": "remote"}, "delete": []}');
  writeFileSync(join(local, `${SHARE}.user`, localEntry), '{"author": "a", "set": {"label": "local"}, "delete": []}');
  const existing = readdirSync(join(local, `${SHARE}.user`)).find((n) => n !== localEntry)!;
  chmodSync(join(other, `${SHARE}.user`, existing), 0o644);
  writeFileSync(join(other, `${SHARE}.user`, existing), CHANGED);

  const to = await copyRuns(opts({ runs: [SHARE] }));
  assert.equal(to.copied[0]?.what, "user +1");
  const from = await copyRuns({ runsDir: local, direction: "from", target: other, runs: [SHARE] });
  assert.equal(from.copied[0]?.what, "user +1");
  const names = (dir: string) => readdirSync(join(dir, `${SHARE}.user`)).sort();
  assert.deepEqual(names(local), names(other));
  assert.equal(names(local).length, 3);
  assert.equal(readFileSync(join(other, `${SHARE}.user`, existing), "utf8"), CHANGED);
  assert.notEqual(readFileSync(join(local, `${SHARE}.user`, existing), "utf8"), CHANGED);
});

test("a grown file fast-forwards; a diverged one is a conflict naming run and path, settled by --force", async () => {
  const { local, other, opts } = setup();
  await copyRuns(opts({ runs: [SHARE] }));
  const runner = join(other, `${SHARE}.meta`, "log", "runner");
  const full = readFileSync(runner);
  chmodSync(runner, 0o644);
  writeFileSync(runner, full.subarray(0, 10));
  const ff = await copyRuns(opts({ runs: [SHARE] }));
  assert.equal(ff.copied[0]?.what, "update 1");
  assert.deepEqual(readFileSync(runner), full);

  const opdef = join(other, `${SHARE}.meta`, "opdef.json");
  chmodSync(opdef, 0o644);
  writeFileSync(opdef, "{}");
  const before = snapshot(other);
  await assert.rejects(copyRuns(opts({ runs: [SHARE] })), (err: unknown) => {
    assert.ok(err instanceof ConflictError);
    assert.deepEqual(err.conflicts, [{ runId: SHARE, paths: [`${SHARE}.meta/opdef.json`] }]);
    return true;
  });
  assert.deepEqual(snapshot(other), before);

  // --from --force keeps this (the local) side; --to --force overwrites the destination
  await assert.rejects(copyRuns({ runsDir: local, direction: "from", target: other, runs: [SHARE] }), ConflictError);
  const kept = await copyRuns({ runsDir: local, direction: "from", target: other, runs: [SHARE], force: true });
  assert.equal(kept.copied.length, 0);
  assert.deepEqual(kept.forced, [{ runId: SHARE, paths: [`${SHARE}.meta/opdef.json`] }]);
  assert.notEqual(readFileSync(join(local, `${SHARE}.meta`, "opdef.json"), "utf8"), "{}");
  const forced = await copyRuns(opts({ runs: [SHARE], force: true }));
  assert.equal(forced.copied[0]?.what, "force 1");
  assert.deepEqual(readFileSync(opdef), readFileSync(join(local, `${SHARE}.meta`, "opdef.json")));
  assert.equal(lstatSync(opdef).mode & 0o777, 0o444);
});

test("deleted runs move only when named; a run deleted on the receiving side is not brought back", async () => {
  const { local, other, opts } = setup();
  await copyRuns(opts({}));
  assert.ok(!existsSync(join(other, `${DELETED}.meta.deleted`)));
  const named = await copyRuns(opts({ runs: [DELETED.slice(0, 8)] }));
  assert.deepEqual(named.copied.map((r) => r.id), [DELETED]);
  assert.ok(existsSync(join(other, `${DELETED}.meta.deleted`, "opref")));
  assert.ok(!existsSync(join(other, `${DELETED}.meta`)));

  // delete SHARE locally, as `gage delete` does; the other side still has it live
  const { renameSync } = await import("node:fs");
  renameSync(join(local, `${SHARE}.meta`), join(local, `${SHARE}.meta.deleted`));
  writeFileSync(join(other, `${SHARE}.user`, "01b00000-0000-4000-8000-000000000009.json"), '{"author": "b", "set": {}, "delete": []}');
  const pulled = await copyRuns({ runsDir: local, direction: "from", target: other, all: true });
  assert.ok(!pulled.copied.some((r) => r.id === SHARE));
  assert.deepEqual(pulled.skippedDeleted, [SHARE]);
  assert.ok(!existsSync(join(local, `${SHARE}.meta`)));
});

test("--only moves parts of runs: meta and user without the run files", async () => {
  const { local, other, opts } = setup();
  const result = await copyRuns(opts({ runs: [BIG], only: ["meta", "user"] }));
  assert.equal(result.copied.length, 1);
  assert.ok(existsSync(join(other, `${BIG}.meta`, "opref")));
  assert.ok(existsSync(join(other, `${BIG}.user`)));
  assert.ok(!existsSync(join(other, BIG)));
  const files = await copyRuns(opts({ runs: [BIG], only: ["files"] }));
  assert.equal(files.copied[0]?.files, readdirSync(join(local, BIG), { recursive: true }).filter((n) => !lstatSync(join(local, BIG, String(n))).isDirectory()).length);
});

test("a hostile source (a symlink in a run) is refused before anything is written", async () => {
  const { other, opts } = setup();
  await copyRuns(opts({ runs: [SHARE] }));
  symlinkSync("/etc/passwd", join(other, SHARE, "passwd"));
  const retrieve = join(other, "..", "retrieve");
  await assert.rejects(copyRuns({ runsDir: retrieve, direction: "from", target: other, all: true }), UnsafePathError);
  assert.ok(!existsSync(retrieve));
  rmSync(join(other, SHARE, "passwd"));

  // the receiving side's own symlinked folder is never written through
  const aside = join(other, "..", "aside");
  mkdirSync(aside);
  mkdirSync(retrieve);
  symlinkSync(aside, join(retrieve, SHARE));
  await assert.rejects(copyRuns({ runsDir: retrieve, direction: "from", target: other, all: true }), UnsafePathError);
  assert.deepEqual(readdirSync(aside), []);
});

test("keys from outside must have the expected forms", () => {
  assert.deepEqual(parseRunKey(`${SHARE}.meta/log/runner`), { id: SHARE, part: "meta", deleted: false, rel: "log/runner" });
  assert.equal(parseRunKey(`${SHARE}.project`), undefined);
  assert.equal(parseRunKey("README.md"), undefined);
  assert.equal(parseRunKey(`${SHARE}.project/x`), undefined);
  assert.throws(() => parseRunKey(`${SHARE}/../../etc/passwd`), UnsafePathError);
  assert.throws(() => parseRunKey(`${SHARE}//x`), UnsafePathError);
  assert.throws(() => parseRunKey(`${SHARE}.user/sub/x.json`), UnsafePathError);
  assert.throws(() => parseRunKey(`${SHARE}.user/x.txt`), UnsafePathError);
});

test("a plan writes nothing, and needs runs or --all", async () => {
  const { other, opts } = setup();
  const plan = await planCopy(opts({}));
  assert.equal(plan.runs.length, LIVE_RUNS);
  await plan.close();
  assert.ok(!existsSync(other));
  await assert.rejects(planCopy(opts({ all: false })), { code: "USAGE" });
  await assert.rejects(planCopy(opts({ all: false, runs: ["no-such-run"] })), { code: "RUN_NOT_FOUND" });
  await assert.rejects(planCopy(opts({ direction: "from", target: join(other, "missing") })), { code: "RUNS_DIR" });
  const where = await planCopy(opts({ all: false, where: "bigfile" }));
  assert.deepEqual(where.runs.map((p) => p.run.id), [BIG]);
  await where.close();
});

test("through a Storage: the plain layout as keys, runs there once complete, and back", async () => {
  const { local, opts } = setup();
  const storage = new MemoryStorage(`copy-${n}`);
  const result = await copyRuns(opts({ storage, target: storage.url }));
  assert.equal(result.copied.length, LIVE_RUNS);
  const keys: string[] = [];
  for await (const e of storage.list("")) keys.push(e.key);
  assert.ok(keys.includes(`${SHARE}.meta/opref`));
  assert.ok(keys.includes(`${SHARE}/hello.py`));
  assert.ok(!keys.some((k) => k.includes(".project") || k.startsWith(DELETED)));
  assert.equal((await copyRuns(opts({ storage, target: storage.url }))).copied.length, 0);

  const retrieve = join(local, "..", "retrieve");
  const back = await copyRuns({ runsDir: retrieve, direction: "from", target: storage.url, storage, all: true });
  assert.equal(back.copied.length, LIVE_RUNS);
  // a storage keeps no modes: a finished run's files come back read-only, as Gage leaves them;
  // the staged run's stay writable
  const contents = (snap: Map<string, string>) => new Map([...snap].map(([k, v]) => [k, v.slice(4)]));
  const got = snapshot(retrieve);
  assert.deepEqual(contents(got), contents(without(snapshot(local), (k) => isProject(k) || isDeleted(k))));
  for (const [k, v] of got) assert.equal(v.slice(0, 3), k.startsWith(STAGED) ? "644" : "444", k);

  // a run whose opref is not there yet (a copy still writing it) is not a run
  await storage.delete(`${SHARE}.meta/opref`);
  const partial = await planCopy({ runsDir: join(local, "..", "r2"), direction: "from", target: storage.url, storage, all: true });
  assert.equal(partial.runs.length, LIVE_RUNS - 1);
  await partial.close();
});

test("a hostile key in a storage stops the copy before anything is written", async () => {
  const { local, opts } = setup();
  const memory = new MemoryStorage(`hostile-${n}`);
  await copyRuns(opts({ storage: memory, target: memory.url, runs: [SHARE] }));
  const hostile: Storage = Object.assign(Object.create(memory) as Storage, {
    async *list(prefix: string) {
      yield* memory.list(prefix);
      if (`${SHARE}/../../x`.startsWith(prefix)) yield { key: `${SHARE}/../../x`, size: 1 };
    },
  });
  const retrieve = join(local, "..", "retrieve");
  await assert.rejects(copyRuns({ runsDir: retrieve, direction: "from", target: memory.url, storage: hostile, all: true }), UnsafePathError);
  assert.ok(!existsSync(retrieve));
});

test("a run file from outside that does not match its manifest fails the copy, and the run stays invisible", async () => {
  const { local, other, opts } = setup();
  await copyRuns(opts({ runs: [SHARE] }));
  const file = join(other, SHARE, "hello.py");
  chmodSync(file, 0o644);
  writeFileSync(file, "print('tampered')\n");
  const retrieve = join(local, "..", "retrieve");
  await assert.rejects(copyRuns({ runsDir: retrieve, direction: "from", target: other, all: true }), { code: "CORRUPT_OBJECT" });
  assert.ok(!existsSync(join(retrieve, `${SHARE}.meta`)));
  assert.ok(!existsSync(join(retrieve, SHARE, "hello.py")));
});

test("nothing is deleted on the receiving side: its own files and runs stay", async () => {
  const { local, other, opts } = setup();
  await copyRuns(opts({ runs: [SHARE] }));
  writeFileSync(join(other, SHARE, "only-there.txt"), "theirs");
  mkdirSync(join(other, "not-a-run"));
  writeFileSync(join(other, "not-a-run", "x"), "x");
  writeFileSync(join(local, SHARE, "only-here.txt"), "mine");
  const before = snapshot(other);
  const result = await copyRuns(opts({ runs: [SHARE] }));
  assert.deepEqual(result.copied.map((r) => [r.id, r.what, r.files]), [[SHARE, "update 1", 1]]);
  const after = snapshot(other);
  for (const [k, v] of before) assert.equal(after.get(k), v, k);
  assert.ok(after.has(`${SHARE}/only-here.txt`));

  const back = await copyRuns({ runsDir: local, direction: "from", target: other, runs: [SHARE] });
  assert.equal(back.copied[0]?.files, 1);
  assert.ok(existsSync(join(local, SHARE, "only-here.txt")));
  assert.ok(existsSync(join(local, SHARE, "only-there.txt")));
});
