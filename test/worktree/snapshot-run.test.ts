import assert from "node:assert/strict";
import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  MemoryObjectStorage,
  ObjectReader,
  PackWriter,
  materializeTree,
} from "../../src/objects/index.js";
import { snapshotRun } from "../../src/worktree/index.js";
import { runDirsOf } from "../../src/worktree/run-parts.js";
import { withTempDir } from "../helpers/fixtures.js";

const RUN = "0f3c2a4e-1b2c-4d5e-8f90-a1b2c3d4e5f6";

function makeRun(runsDir: string, files = 50): void {
  mkdirSync(join(runsDir, RUN, "results"), { recursive: true });
  for (let i = 0; i < files; i++) writeFileSync(join(runsDir, RUN, "results", `r${i}.csv`), `step,loss\n${i},${1 / (i + 1)}\n`);
  mkdirSync(join(runsDir, `${RUN}.meta`, "proc"), { recursive: true });
  writeFileSync(join(runsDir, `${RUN}.meta`, "opref"), "1 test train");
  writeFileSync(join(runsDir, `${RUN}.meta`, "proc", "exit"), "0");
  mkdirSync(join(runsDir, `${RUN}.user`));
  writeFileSync(join(runsDir, `${RUN}.user`, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.json"), '{"author": "a", "set": {"label": "x"}, "delete": []}');
  writeFileSync(join(runsDir, `${RUN}.project`), "file:/home/someone/project");
}

test("a run snapshot holds files, meta and user log, never ID.project, and is the same anywhere", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
  const a = join(tmp.path, "a");
  makeRun(a);
  const storage = new MemoryObjectStorage();
  const writer = new PackWriter(storage);
  const first = await snapshotRun(a, RUN, { sink: writer, summary: { operation: "test:train", status: "completed", label: "x" } });
  const packs = await writer.flush();
  // 50 small files and their trees: one pack and one index, not one write per file.
  assert.equal(packs.length, 1);
  assert.equal(storage.puts, 2);
  assert.equal(first.snapshot.user.length, 1);
  assert.equal(first.stats.files, 53);

  const reader = await ObjectReader.open(storage);
  const snap = await reader.readSnapshot(first.snapshotId);
  assert.deepEqual(snap, first.snapshot);
  const everything = JSON.stringify(await Promise.all([reader.readTree(snap.files), reader.readTree(snap.meta)]));
  assert.equal(everything.includes("project"), false);

  const b = join(tmp.path, "b");
  cpSync(a, b, { recursive: true });
  writeFileSync(join(b, `${RUN}.project`), "file:/elsewhere");
  const second = await snapshotRun(b, RUN, { sink: new PackWriter(new MemoryObjectStorage()), summary: { label: "x", status: "completed", operation: "test:train" } });
  assert.equal(second.snapshotId, first.snapshotId);

  const out = join(tmp.path, "out");
  mkdirSync(out);
  await materializeTree(reader, snap.files, join(out, RUN), { fsync: false });
  await materializeTree(reader, snap.meta, join(out, `${RUN}.meta`), { fsync: false });
  const child = await snapshotRun(out, RUN, { sink: new PackWriter(storage), parents: [first.snapshotId] });
  assert.equal(child.snapshot.files, snap.files);
  assert.equal(child.snapshot.meta, snap.meta);
  assert.deepEqual(child.snapshot.user, []);
  assert.notEqual(child.snapshotId, first.snapshotId);
  });
});

test("user log entries already on disk are kept, never replaced", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
  const a = join(tmp.path, "a");
  makeRun(a, 1);
  const storage = new MemoryObjectStorage();
  const writer = new PackWriter(storage);
  const { snapshot } = await snapshotRun(a, RUN, { sink: writer });
  await writer.flush();
  const reader = await ObjectReader.open(storage);
  const userDir = join(tmp.path, "user");
  mkdirSync(userDir);
  const name = snapshot.user[0]!.name;
  writeFileSync(join(userDir, name), "local edit");
  const entries = snapshot.user.map((u) => ({ name: u.name, kind: "file" as const, mode: 0o444, size: u.size, id: u.id }));
  const stats = await materializeTree(reader, { entries }, userDir, { keepExisting: true, fsync: false });
  assert.equal(stats.kept, 1);
  assert.equal(stats.written, 0);
  });
});

test("text is stored deflated unless compression is off, and reads back either way", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
  const a = join(tmp.path, "a");
  makeRun(a, 20);
  const sizes: number[] = [];
  for (const compress of [true, false]) {
    const storage = new MemoryObjectStorage();
    const writer = new PackWriter(storage, { compress });
    const { snapshotId } = await snapshotRun(a, RUN, { sink: writer });
    const [pack] = await writer.flush();
    sizes.push(pack!.bytes);
    const reader = await ObjectReader.open(storage);
    const snap = await reader.readSnapshot(snapshotId);
    const out = join(tmp.path, `out-${compress}`);
    await materializeTree(reader, snap.files, out, { fsync: false });
  }
  assert.ok(sizes[0]! < sizes[1]!, `deflated ${sizes[0]} < raw ${sizes[1]}`);
  });
});

test("a scan names each run's folder as join(runsDir, id) does, for any form of the runs directory", () => {
  for (const runsDir of ["/a/b", "/a/b/", "/a/./b//", "a", "./a/../b", ".", "", "/"]) {
    const runDirOf = runDirsOf();
    for (const runId of ["x", "run-1", "0b1c", "..", ".", "a/b", "x\0y"]) {
      assert.equal(runDirOf({ runsDir, runId, metaDir: "" }), join(runsDir, runId), `${JSON.stringify(runsDir)} + ${JSON.stringify(runId)}`);
    }
  }
});
