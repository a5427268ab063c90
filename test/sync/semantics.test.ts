import assert from "node:assert/strict";
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { openStorage } from "../../src/remotes/open.js";
import type { Storage } from "../../src/remotes/storage.js";
import { runPaths } from "../../src/runs/layout.js";
import { readRun } from "../../src/runs/run.js";
import { appendUserLog } from "../../src/runs/user-log.js";
import { keyTime } from "../../src/sync/heads.js";
import { clone, ConflictError, listRemoteRuns, pull, push, status, CATALOG_EVERY, type RemoteRun } from "../../src/sync/index.js";
import { writePending } from "../../src/state/index.js";
import { DELETED_RUN, freshCases, SHARED_RUN } from "./story.js";

const fresh = freshCases("gage-sync-semantics-");

/** Counts the calls a command makes on a storage. */
function counting(storage: Storage): Storage & { calls: Record<string, number> } {
  const calls: Record<string, number> = { get: 0, put: 0, list: 0, stat: 0 };
  return {
    url: storage.url,
    calls,
    get: (k, r) => (calls.get!++, storage.get(k, r)),
    getBytes: (k, r) => (calls.get!++, storage.getBytes(k, r)),
    put: (k, d) => (calls.put!++, storage.put(k, d)),
    stat: (k) => (calls.stat!++, storage.stat(k)),
    list: (p, o) => (calls.list!++, storage.list(p, o)),
    delete: (k) => storage.delete(k),
    close: () => storage.close(),
  };
}

function writeRunFile(path: string, text: string): void {
  chmodSync(join(path, ".."), 0o755);
  if (existsSync(path)) chmodSync(path, 0o644);
  writeFileSync(path, text);
  chmodSync(path, 0o444);
}

test("a no-change push and pull list the remote's heads once and transfer nothing", async () => {
  const { origin, remote } = fresh();
  await push({ runsDir: origin, remote });
  for (const run of [push, pull] as const) {
    const storage = counting(await openStorage(remote));
    const result = await run({ runsDir: origin, remote: storage });
    assert.equal(result.runs.length, 0);
    assert.deepEqual(storage.calls, { get: 0, put: 0, list: 2, stat: 0 }, "one listing of catalogs, one of heads");
    await storage.close();
  }
});

test("files changed differently on both sides stop with a conflict naming the run and path; --force picks this side", async () => {
  const { root, origin, remote } = fresh();
  await push({ runsDir: origin, remote, runs: [SHARED_RUN] });
  const other = join(root, "other");
  await clone({ runsDir: other, remote });
  writeRunFile(join(runPaths(origin, SHARED_RUN).runDir, "hello.py"), "print('from A')\n");
  writeRunFile(join(runPaths(other, SHARED_RUN).runDir, "hello.py"), "print('from B')\n");
  await push({ runsDir: origin, remote, runs: [SHARED_RUN] });
  await assert.rejects(push({ runsDir: other, remote }), (err: unknown) => {
    assert.ok(err instanceof ConflictError);
    assert.deepEqual(err.conflicts, [{ runId: SHARED_RUN, paths: [`${SHARED_RUN}/hello.py`] }]);
    return true;
  });
  assert.equal((await status({ runsDir: other, remote })).runs[0]!.state, "diverged");
  await assert.rejects(pull({ runsDir: other, remote }), ConflictError);
  await push({ runsDir: other, remote, force: true });
  await pull({ runsDir: origin, remote });
  assert.equal(readFileSync(join(runPaths(origin, SHARED_RUN).runDir, "hello.py"), "utf8"), "print('from B')\n", "B's forced version fast-forwards A");
  assert.equal((await status({ runsDir: origin, remote })).runs.find((r) => r.id === SHARED_RUN)!.state, "in sync");
});

test("a push moves every other run when one diverged, then names that one (as a pull does)", async () => {
  const { root, origin, remote } = fresh();
  await push({ runsDir: origin, remote });
  const other = join(root, "other");
  await clone({ runsDir: other, remote });
  const second = (await listRemoteRuns({ runsDir: other, remote })).find((r) => r.id !== SHARED_RUN)!.id;
  writeRunFile(join(runPaths(origin, SHARED_RUN).runDir, "hello.py"), "print('from A')\n");
  writeRunFile(join(runPaths(other, SHARED_RUN).runDir, "hello.py"), "print('from B')\n");
  await push({ runsDir: origin, remote, runs: [SHARED_RUN] });
  await appendUserLog(runPaths(other, second).userDir, { set: { label: "kept by B" } }, { author: "b", nowMs: Date.now() });
  await assert.rejects(push({ runsDir: other, remote }), (err: unknown) => {
    assert.ok(err instanceof ConflictError);
    assert.deepEqual(err.conflicts, [{ runId: SHARED_RUN, paths: [`${SHARED_RUN}/hello.py`] }]);
    return true;
  });
  const listed = await listRemoteRuns({ runsDir: join(root, "fresh-reader"), remote });
  assert.equal(listed.find((r) => r.id === second)!.label, "kept by B", "the other run's label reached the remote");
  assert.equal((await status({ runsDir: other, remote })).runs.find((r) => r.id === SHARED_RUN)!.state, "diverged");
});

test("a run pushed while running fast-forwards on pull when it finishes: new files in, the lock gone", async () => {
  const { root, origin, remote } = fresh();
  const meta = runPaths(origin, SHARED_RUN).metaDir;
  rmSync(join(meta, "proc", "exit"), { force: true });
  chmodSync(join(meta, "proc"), 0o755);
  writeFileSync(join(meta, "proc", "lock"), "1234");
  await push({ runsDir: origin, remote, runs: [SHARED_RUN] });
  const other = join(root, "other");
  await clone({ runsDir: other, remote });
  assert.equal((await readRun(other, SHARED_RUN)).status, "running");
  rmSync(join(meta, "proc", "lock"));
  writeRunFile(join(meta, "proc", "exit"), "0");
  writeRunFile(join(runPaths(origin, SHARED_RUN).runDir, "result.txt"), "done\n");
  await push({ runsDir: origin, remote, runs: [SHARED_RUN] });
  const pulled = await pull({ runsDir: other, remote });
  assert.equal(pulled.runs[0]!.what, "files, meta");
  assert.equal((await readRun(other, SHARED_RUN)).status, "completed");
  assert.ok(!existsSync(join(runPaths(other, SHARED_RUN).metaDir, "proc", "lock")));
  assert.equal(readFileSync(join(runPaths(other, SHARED_RUN).runDir, "result.txt"), "utf8"), "done\n");
});

test("--only meta,user moves a run's record without its files; a later full push adds them", async () => {
  const { root, origin, remote } = fresh();
  const big = "ffcb9078-ed64-41f7-8fc4-9d3328700bf7";
  const meta = await push({ runsDir: origin, remote, runs: [big], only: ["meta", "user"] });
  assert.ok(meta.bytes < 100_000, `only metadata sent (${meta.bytes} bytes)`);
  const other = join(root, "other");
  await clone({ runsDir: other, remote });
  assert.equal((await readRun(other, big)).label, "Generated files");
  assert.ok(!existsSync(join(other, big, "big.bin")));
  await push({ runsDir: origin, remote, runs: [big] });
  await pull({ runsDir: other, remote });
  assert.equal(readFileSync(join(other, big, "big.bin")).length, 5_242_880);
});

test("a deleted run is pushed only when named, and never deleted on the other side", async () => {
  const { root, origin, remote } = fresh();
  await push({ runsDir: origin, remote });
  assert.ok(!(await listRemoteRuns({ runsDir: origin, remote })).some((r) => r.id === DELETED_RUN));
  await push({ runsDir: origin, remote, runs: [DELETED_RUN] });
  const remoteRuns = await listRemoteRuns({ runsDir: join(root, "nowhere"), remote });
  assert.ok(remoteRuns.some((r) => r.id === DELETED_RUN));
  assert.ok(!existsSync(join(root, "nowhere")), "listing a remote creates no runs directory");
  // Deleted here after being shared: a pull does not bring it back unless named.
  const p = runPaths(origin, SHARED_RUN);
  chmodSync(origin, 0o755);
  await import("node:fs/promises").then((fs) => fs.rename(p.metaDir, p.deletedMetaDir));
  assert.equal((await pull({ runsDir: origin, remote })).runs.length, 0);
  assert.ok(!existsSync(p.metaDir));
  await pull({ runsDir: origin, remote, runs: [SHARED_RUN] });
  assert.ok(existsSync(p.metaDir));
});

test("many heads compact into a catalog that a new reader starts from", async () => {
  const { origin, remote } = fresh();
  for (let i = 0; i < CATALOG_EVERY; i++) {
    await appendUserLog(runPaths(origin, SHARED_RUN).userDir, { set: { label: `v${i}` } }, { author: "a", nowMs: Date.now() });
    await push({ runsDir: origin, remote, runs: [SHARED_RUN] });
  }
  assert.ok(existsSync(join(remote, "catalog")));
  const storage = counting(await openStorage(remote));
  const runs = await listRemoteRuns({ runsDir: join(origin, "..", "elsewhere"), remote: storage });
  assert.equal(runs.find((r) => r.id === SHARED_RUN)!.label, `v${CATALOG_EVERY - 1}`);
  assert.equal(storage.calls.get, 2, "the catalog's root and its one segment read, no head read");
  await storage.close();
});

test("a pull killed while updating a run is finished by the next pull, and nothing half-written is pushed", async () => {
  const { root, origin, remote } = fresh();
  await push({ runsDir: origin, remote, runs: [SHARED_RUN] });
  const other = join(root, "other");
  await clone({ runsDir: other, remote });
  writeRunFile(join(runPaths(origin, SHARED_RUN).runDir, "hello.py"), "print('v2')\n");
  writeRunFile(join(runPaths(origin, SHARED_RUN).runDir, "gage.toml"), "# v2\n");
  const v2 = await push({ runsDir: origin, remote, runs: [SHARED_RUN] });
  assert.equal(v2.runs.length, 1);
  // What a pull killed halfway leaves: its mark, and one of the two files written.
  const target = ((await listRemoteRuns({ runsDir: other, remote })) as RemoteRun[])[0]!.entries[0]!;
  writePending(other, SHARED_RUN, { files: target.run.tree });
  writeRunFile(join(runPaths(other, SHARED_RUN).runDir, "hello.py"), "print('v2')\n");
  assert.equal((await push({ runsDir: other, remote })).runs.length, 0, "the half-written run is not a new version");
  await pull({ runsDir: other, remote });
  assert.equal(readFileSync(join(runPaths(other, SHARED_RUN).runDir, "gage.toml"), "utf8"), "# v2\n");
  assert.equal((await status({ runsDir: other, remote })).runs[0]!.state, "in sync");
});

test("run specs and --where select what moves, on the sending side's runs", async () => {
  const { root, origin, remote } = fresh();
  const pushed = await push({ runsDir: origin, remote, where: "label~share" });
  assert.deepEqual(pushed.runs.map((r) => r.id), [SHARED_RUN]);
  await push({ runsDir: origin, remote, runs: ["1", "zuz"] });
  const other = join(root, "other");
  const cloned = await clone({ runsDir: other, remote, runs: ["zuzar"] });
  assert.deepEqual(cloned.runs.map((r) => r.name), ["zuzar-nadum"]);
  const rest = await pull({ runsDir: other, remote, where: "completed" });
  assert.deepEqual(rest.runs.map((r) => r.id), [SHARED_RUN], "the staged run (1) is not 'completed'");
  await assert.rejects(pull({ runsDir: other, remote, runs: ["nosuchrun"] }), { code: "RUN_NOT_FOUND" });
});

test("a writer whose clock runs a day ahead hides no other writer's head from a cached reader", async () => {
  const { root, origin, remote } = fresh();
  await push({ runsDir: origin, remote, runs: [SHARED_RUN] });
  const ahead = join(root, "ahead");
  const other = join(root, "other");
  await clone({ runsDir: ahead, remote });
  await clone({ runsDir: other, remote });
  const label = (dir: string, text: string) => appendUserLog(runPaths(dir, SHARED_RUN).userDir, { set: { label: text } }, { author: "t", nowMs: Date.now() });
  await label(ahead, "from the future");
  await push({ runsDir: ahead, remote, now: () => Date.now() + 86_400_000 });
  await pull({ runsDir: origin, remote });
  // `other` lists the remote just before the future head lands (a race): it names its head by its own clock.
  await label(other, "from the present");
  await pull({ runsDir: origin, remote });
  const storage = await openStorage(remote);
  const racing: Storage = {
    url: storage.url,
    get: (k, r) => storage.get(k, r),
    stat: (k) => storage.stat(k),
    delete: (k) => storage.delete(k),
    getBytes: (k, r) => storage.getBytes(k, r),
    put: (k, d) => storage.put(k, d),
    list: async function* (prefix, o) {
      for await (const e of storage.list(prefix, o)) if (!(keyTime(e.key)! > Date.now() + 3_600_000)) yield e;
    },
    close: () => storage.close(),
  };
  const pushed = await push({ runsDir: other, remote: racing, runs: [SHARED_RUN] });
  await storage.close();
  assert.equal(pushed.runs.length, 1);
  await pull({ runsDir: origin, remote });
  const labels = (await readRun(origin, SHARED_RUN)).attrs;
  assert.ok(["from the present", "from the future"].includes(labels.label as string));
  const { readUserLog } = await import("../../src/runs/user-log.js");
  const texts = (await readUserLog(runPaths(origin, SHARED_RUN).userDir)).map((e) => e.entry.set.label);
  assert.ok(texts.includes("from the present") && texts.includes("from the future"));
});
