import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import fc from "fast-check";
import { hashBytes, isObjectId } from "../../src/objects/index.js";
import { StatCache } from "../../src/worktree/index.js";
import { readDefaultRemote, readPending, readRunHistory, RunStates, stateDir } from "../../src/state/index.js";
import { tempDir } from "../helpers/fixtures.js";
import { anyBytes, mutated, refusesOrDecodes, SEED } from "./fuzz-helpers.js";

// Local state files (`.gage-sync/`) are caches: damaged, truncated or foreign, each reads as
// nothing known (costing only speed), never as a crash or a wrong answer's shape.

const tmp = tempDir("gage-fuzz-state-");
after(() => tmp.cleanup());

const RUN = "882cb503-0000-4000-8000-000000000000";
const RUNS = 100;
const id = (s: string) => hashBytes(Buffer.from(s));

const jsonText = fc.oneof(
  anyBytes,
  fc.json().map((j) => Buffer.from(j)),
  fc.record({ files: fc.oneof(fc.array(fc.oneof(fc.constant(id("t")), fc.string())), fc.jsonValue()), meta: fc.jsonValue(), defaultRemote: fc.jsonValue() }, { requiredKeys: [] }).map((v) => Buffer.from(JSON.stringify(v))),
);

test("run histories, pending marks and the default remote: any file contents read as known ids or nothing", async () => {
  const runsDir = join(tmp.path, "runs");
  const runsState = join(stateDir(runsDir), "runs");
  mkdirSync(runsState, { recursive: true });
  await fc.assert(
    fc.asyncProperty(jsonText, jsonText, jsonText, async (history, pending, config) => {
      writeFileSync(join(runsState, `${RUN}.json`), history);
      writeFileSync(join(runsState, `${RUN}.pending`), pending);
      writeFileSync(join(stateDir(runsDir), "config.json"), config);
      const h = refusesOrDecodes(() => readRunHistory(runsDir, RUN));
      assert.ok(h !== undefined && h.files.every(isObjectId) && h.meta.every(isObjectId));
      const again = refusesOrDecodes(() => RunStates.read(runsDir).history(RUN));
      assert.deepEqual(again, h);
      const p = refusesOrDecodes(() => readPending(runsDir, RUN));
      if (p !== undefined) assert.ok(Object.values(p).every(isObjectId));
      const remote = refusesOrDecodes(() => readDefaultRemote(runsDir));
      assert.ok(remote === undefined || (typeof remote === "string" && remote !== ""));
    }),
    { seed: SEED, numRuns: RUNS },
  );
});

test("the stat cache: damaged files load as a cache that answers only what it can vouch for", async () => {
  const dir = join(tmp.path, "stat");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "stat-cache");
  const stamp = { size: 5, mtimeMs: 1700000000000, ctimeMs: 1700000000000, ino: 42 };
  const good = new StatCache({ now: () => 1800000000000 });
  for (let i = 0; i < 20; i++) good.record(`/runs/${RUN}/f${i}`, { ...stamp, ino: i }, { id: id(`f${i}`) });
  good.recordDir(`/runs/${RUN}`, "sig", id("tree"), 1700000000000);
  await good.save(file);
  const valid = readFileSync(file);
  assert.equal(StatCache.loadSync(file).lookup(`/runs/${RUN}/f3`, { ...stamp, ino: 3 })?.id, id("f3"), "the valid file answers");
  await fc.assert(
    fc.asyncProperty(fc.oneof(anyBytes, mutated(valid)), fc.option(anyBytes, { nil: undefined }), async (bytes, delta) => {
      writeFileSync(file, bytes);
      if (delta === undefined) rmSync(`${file}.delta`, { force: true });
      else writeFileSync(`${file}.delta`, delta);
      const cache = refusesOrDecodes(() => StatCache.loadSync(file));
      assert.ok(cache !== undefined);
      for (let i = 0; i < 20; i++) {
        const hit = refusesOrDecodes(() => cache.lookup(`/runs/${RUN}/f${i}`, { ...stamp, ino: i }));
        if (hit !== undefined) assert.ok(isObjectId(hit.id));
      }
      const tree = refusesOrDecodes(() => cache.lookupDir(`/runs/${RUN}`, "sig"));
      assert.ok(tree === undefined || isObjectId(tree));
    }),
    { seed: SEED, numRuns: RUNS },
  );
});
