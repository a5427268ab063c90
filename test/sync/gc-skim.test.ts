import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { test } from "node:test";
import { Packr } from "msgpackr/pack";
import { skimRoots } from "../../src/sync/gc-skim.js";
import { plainEntry, type HeadEntry } from "../../src/sync/head-entry.js";
import { decodeRawRun, type RawRun } from "../../src/sync/lazy-runs.js";

const packr = new Packr({ useRecords: false, variableMapSize: true });
const id = () => randomBytes(32).toString("hex");

function entry(times?: HeadEntry["times"]): HeadEntry {
  return {
    runId: "",
    run: { tree: id(), prior: [id(), id()] },
    meta: { tree: id(), prior: [] },
    user: {},
    summary: { operation: "train", status: "completed" },
    ...(times === undefined ? {} : { times }),
  };
}

/** A run's entries as a catalog holds them: msgpack maps side by side, read as bytes. */
function rawRun(values: unknown[]): RawRun {
  const b = Buffer.concat(values.map((v) => packr.pack(v)));
  return { b, p: 0, end: b.length, n: values.length, from: "test" };
}

test("gc's skim of a run's bytes finds the trees and times objects a full decode finds, and gives up on what it cannot read", () => {
  const runId = randomUUID();
  const entries = [entry(), entry({ run: id(), meta: id() }), entry({ meta: id() })].map((e) => ({ ...e, runId }));
  const raw = rawRun(entries.map(plainEntry));
  const skimmed = skimRoots(raw);
  const decoded = decodeRawRun(runId, raw);
  assert.deepEqual(
    skimmed,
    decoded.map((e) => ({ run: e.run.tree, meta: e.meta.tree, times: [e.times?.run, e.times?.meta].filter((t) => t !== undefined) })),
  );
  // Times are hints: one that is not an id is left out, as a decoded entry leaves it.
  const odd = { ...(plainEntry(entries[0]!) as object), times: { run: "not an id", meta: entries[1]!.times!.meta, 7: "x" } };
  assert.deepEqual(skimRoots(rawRun([odd]))?.[0]?.times, [entries[1]!.times!.meta]);
  // A tree that is not an id, or an entry that is not a map: the caller decodes the run whole.
  assert.equal(skimRoots(rawRun([{ ...(plainEntry(entries[0]!) as object), run: { tree: "abc", prior: [] } }])), undefined);
  assert.equal(skimRoots(rawRun([{ ...(plainEntry(entries[0]!) as object), meta: [id()] }])), undefined);
  assert.equal(skimRoots(rawRun([[1, 2]])), undefined);
  assert.equal(skimRoots({ ...raw, end: raw.end - 1 }), undefined, "bytes that end inside an entry");
});
