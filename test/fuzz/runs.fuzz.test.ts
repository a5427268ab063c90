import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import fc from "fast-check";
import { MemoryStorage } from "../../src/remotes/memory/index.js";
import { isRunId } from "../../src/runs/layout.js";
import { runComments } from "../../src/runs/ops.js";
import { readRun } from "../../src/runs/run.js";
import { applyUserLog, parseUserLogEntry } from "../../src/runs/user-log.js";
import { StorageRunsSide } from "../../src/sync/copy/storage-side.js";
import { tempDir } from "../helpers/fixtures.js";
import { refusesOrDecodes, refusesOrDecodesAsync, RUNS, SEED } from "./fuzz-helpers.js";

// User log entries and plain-layout meta arrive from remotes (inline in heads, or as files of a
// copied runs directory): each parses to a run or a typed refusal, never a crash.

const tmp = tempDir("gage-fuzz-runs-");
after(() => tmp.cleanup());

const RUN = "882cb503-0000-4000-8000-000000000000";

const jsonish = fc.oneof(
  fc.string(),
  fc.json(),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc
    .record({ author: fc.jsonValue(), set: fc.oneof(fc.dictionary(fc.oneof(fc.string(), fc.constantFrom("__proto__", "label", "comment:01a216cd-c907")), fc.jsonValue()), fc.jsonValue()), delete: fc.oneof(fc.array(fc.string()), fc.jsonValue()) }, { requiredKeys: [] })
    .map((v) => JSON.stringify(v)),
);

test("user log entries: any text parses to an entry or a typed refusal, and entries apply without a crash", () => {
  let parsed = 0;
  fc.assert(
    fc.property(fc.array(jsonish, { minLength: 1, maxLength: 4 }), (texts) => {
      const entries = texts.map((t) => refusesOrDecodes(() => parseUserLogEntry(t), ["RUN_META"])).filter((e) => e !== undefined);
      parsed += entries.length;
      const attrs = applyUserLog(entries);
      assert.equal(Object.getPrototypeOf(attrs), Object.prototype, "a `__proto__` key sets an attribute, not the prototype");
      for (const c of runComments({ attrs })) assert.equal(typeof c.msg, "string");
    }),
    { seed: SEED, numRuns: RUNS },
  );
  assert.ok(parsed > 0);
});

const metaText = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom("1", "1 proj hello", "0", "-15", "1700000000000000", "", "1 a", "2 x y"), fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString("latin1")));
const META_FILES = ["__schema__", "id", "opref", "initialized", "started", "proc/exit"];
const metaFiles = fc.record(Object.fromEntries(META_FILES.map((f) => [f, fc.option(metaText, { nil: undefined })])) as Record<string, fc.Arbitrary<string | undefined>>);

test("plain-layout meta in a runs directory: any file contents read as a run or a typed refusal", async () => {
  let n = 0;
  await fc.assert(
    fc.asyncProperty(metaFiles, async (files) => {
      const runsDir = join(tmp.path, `runs-${n++}`);
      const meta = join(runsDir, `${RUN}.meta`);
      mkdirSync(join(meta, "proc"), { recursive: true });
      for (const [name, text] of Object.entries(files)) if (text !== undefined) writeFileSync(join(meta, name), text);
      const run = await refusesOrDecodesAsync(() => readRun(runsDir, RUN, { onWarning: () => {} }), ["RUN_META"]);
      if (run !== undefined) {
        assert.equal(run.id, RUN, "a run is its folder, whatever its id file says");
        assert.equal(run.paths.runDir, join(runsDir, RUN));
      }
      rmSync(runsDir, { recursive: true });
    }),
    { seed: SEED, numRuns: 60 },
  );
});

test("plain-layout runs on a storage remote: any keys and contents list as runs or warnings", async () => {
  const key = fc.oneof(
    fc.constantFrom(...META_FILES.map((f) => `${RUN}.meta/${f}`), `${RUN}.user/01a216cc-e43c-4fff-bfff-ffffffffffff.json`, `${RUN}/file.txt`, `${RUN}.meta.deleted/opref`),
    fc.string({ minLength: 1, maxLength: 30 }).map((s) => `${RUN}.meta/${s}`),
    fc.string({ minLength: 1, maxLength: 40 }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(key, fc.oneof(metaText, jsonish)), { maxLength: 8 }), async (files) => {
      const storage = new MemoryStorage("fuzz");
      for (const [k, text] of files) await storage.put(k, Buffer.from(text)).catch(() => undefined);
      const side = new StorageRunsSide(storage, false);
      const runs = await refusesOrDecodesAsync(() => side.listRuns(() => {}), ["UNSAFE_PATH"]);
      for (const run of runs ?? []) assert.ok(isRunId(run.id) && Object.values(run.timestamps).every(Number.isSafeInteger));
    }),
    { seed: SEED, numRuns: 100 },
  );
});
