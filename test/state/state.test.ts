import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { hashBytes, packIndexKey } from "../../src/objects/index.js";
import { encodePackIndex } from "../../src/objects/pack.js";
import { addRunHistory, commitStateFile, ofPresentRun, presentRuns, readPending, readRunHistory, RemoteState, RunStates, statePaths, writePending } from "../../src/state/index.js";
import { withTempDir } from "../helpers/fixtures.js";

const URL = "file:///somewhere/remote";

function indexFile(packId: string, objects: number): Buffer {
  const entries = Array.from({ length: objects }, (_, i) => ({ id: hashBytes(Buffer.from(`${packId}${i}`)), offset: 8 + i, storedLength: 1, rawLength: 1, codec: 0 as const }));
  return encodePackIndex(packId, entries);
}

test("a state file is replaced whole, its folder made, no temporary file left", async () => {
  await withTempDir("gage-state-", ({ path }) => {
    const file = join(path, "a", "b", "config.json");
    commitStateFile(file, "one\n", { durable: true });
    commitStateFile(file, "two\n", { durable: false });
    assert.equal(readFileSync(file, "utf8"), "two\n");
    assert.deepEqual(readdirSync(join(path, "a", "b")), ["config.json"]);
  });
});

test("a kept pack index is found only under the key its content names", async () => {
  await withTempDir("gage-state-", ({ path }) => {
    const packId = hashBytes(randomBytes(8));
    const [before, after] = [indexFile(packId, 3), indexFile(packId, 2)];
    const state = new RemoteState(path, URL);
    state.setKeptIndexes(new Map([[packIndexKey(packId, before), before]]));
    state.commit();
    const again = new RemoteState(path, URL).keptIndexes();
    assert.ok(again.get(packIndexKey(packId, before))?.equals(before));
    assert.equal(again.get(packIndexKey(packId, after)), undefined, "a gc that changed the index made a new key: a miss");
  });
});

test("kept indexes written by release 0.1.0 (pack id → bytes) are read under the keys their contents name", async () => {
  await withTempDir("gage-state-", ({ path }) => {
    const packId = hashBytes(randomBytes(8));
    const bytes = indexFile(packId, 4);
    const head = Buffer.alloc(36);
    head.write(packId, 0, 32, "hex");
    head.writeUInt32LE(bytes.length, 32);
    const file = statePaths.remote(path, URL, "packs");
    mkdirSync(join(file, ".."), { recursive: true });
    // A torn record at the end is ignored.
    writeFileSync(file, Buffer.concat([head, bytes, head.subarray(0, 20)]));
    const kept = new RemoteState(path, URL).keptIndexes();
    assert.deepEqual([...kept.keys()], [packIndexKey(packId, bytes)]);
  });
});

test("in-sync rows hold only for the view stamp they were saved against; a damaged file is none", async () => {
  await withTempDir("gage-state-", ({ path }) => {
    const stamp = hashBytes(Buffer.from("view 1"));
    const run = randomUUID();
    const state = new RemoteState(path, URL);
    state.setInSyncRows(stamp, new Map([[run, "x".repeat(96)]]));
    state.commit();
    assert.equal(new RemoteState(path, URL).inSyncRows(stamp)?.get(run), "x".repeat(96));
    assert.equal(new RemoteState(path, URL).inSyncRows(hashBytes(Buffer.from("view 2"))), undefined);
    writeFileSync(statePaths.remote(path, URL, "in-sync"), "GAGEINS1 torn");
    assert.equal(new RemoteState(path, URL).inSyncRows(stamp), undefined);
  });
});

test("histories keep the newest trees; pending marks are read back; runs gone for good leave nothing", async () => {
  await withTempDir("gage-state-", ({ path }) => {
    const [kept, deleted, gone] = [randomUUID(), randomUUID(), randomUUID()];
    mkdirSync(join(path, `${kept}.meta`));
    mkdirSync(join(path, `${deleted}.meta.deleted`));
    const trees = Array.from({ length: 5 }, (_, i) => hashBytes(Buffer.from(`tree ${i}`)));
    for (const id of [kept, deleted, gone]) addRunHistory(path, id, { files: trees, meta: [trees[0]!] }, 3);
    assert.deepEqual(readRunHistory(path, kept), { files: trees.slice(2), meta: [trees[0]] });
    writePending(path, gone, { files: trees[4]! });
    assert.deepEqual(readPending(path, gone), { files: trees[4] });
    const states = RunStates.read(path);
    assert.equal(states.anyGone(presentRuns(path)), true);
    assert.equal(states.prune(presentRuns(path)), 2, "the history and the pending mark of the run no longer here");
    assert.equal(RunStates.read(path).anyGone(presentRuns(path)), false);
    assert.ok(RunStates.read(path).history(deleted), "a deleted run (restorable) keeps its history");
    assert.ok(!existsSync(statePaths.history(path, gone)));
  });
});

test("a stat-cache path is of a run here by the first name under the runs directory, whatever part it is of", async () => {
  await withTempDir("gage-state-", async ({ path }) => {
    const here = randomUUID();
    const gone = randomUUID();
    const metaOnly = randomUUID();
    mkdirSync(join(path, here));
    mkdirSync(join(path, `${here}.meta`));
    mkdirSync(join(path, `${metaOnly}.meta`));
    writeFileSync(join(path, `${here}.project`), "file:/x\n");
    const present = presentRuns(path);
    assert.deepEqual([...present].sort(), [here, metaOnly].sort());
    assert.deepEqual(presentRuns(join(path, "not-made")), new Set());
    const keep = ofPresentRun(path, present);
    for (const p of [join(path, here), join(path, here, "a/b.txt"), join(path, `${here}.meta`, "id"), join(path, `${here}.user`), `${join(path, here)}\0`, join(path, `${metaOnly}.meta`)]) {
      assert.equal(keep(p), true, p);
    }
    for (const p of [join(path, gone), join(path, gone, "a"), join(path, `${gone}.meta`, "id"), `${join(path, gone)}\0`, join(`${path}-moved`, here, "a"), join("/elsewhere", here)]) {
      assert.equal(keep(p), false, p);
    }
    // The same name asked again gives the same answer (names are looked up once).
    assert.equal(keep(join(path, gone, "b")), false);
    assert.equal(keep(join(path, here, "c")), true);
  });
});
