import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { tempDir } from "../helpers/fixtures.js";
import { gc } from "../../src/sync/gc.js";
import { statePaths } from "../../src/state/index.js";
import { clone, closeRemote, openRemote, pull, push } from "../../src/sync/index.js";
import { runFiles } from "./two-sides.js";

// A store and the runs directory that pushed it, both made by release 0.1.0 (note beside it).
const FIXTURE = fileURLToPath(new URL("../fixtures/store-v0.1.0.tar.gz", import.meta.url));
const RUN = "87bd998b-bf53-4585-9afb-cc19b62871d8";

const tmp = tempDir("gage-sync-legacy-");
after(() => tmp.cleanup());
let n = 0;

function unpack(): { root: string; store: string; runs: string } {
  const root = join(tmp.path, `case-${++n}`);
  execFileSync("mkdir", ["-p", root]);
  execFileSync("tar", ["-xzf", FIXTURE, "-C", root]);
  return { root, store: join(root, "store"), runs: join(root, "runs") };
}

test("a store written by release 0.1.0 is cloned whole by this release", async () => {
  const { root, store, runs } = unpack();
  assert.ok(readdirSync(join(store, "packs")).every((k) => /^[0-9a-f]{64}\.(pack|idx)$/.test(k)), "the fixture has the old index names");
  const b = join(root, "b");
  const cloned = await clone({ runsDir: b, remote: store });
  assert.equal(cloned.runs.length, 3);
  assert.deepEqual(runFiles(b), runFiles(runs));
});

test("this release pushes to a 0.1.0 store from a 0.1.0 runs directory, and gc keeps it whole", async () => {
  const { root, store, runs } = unpack();
  const dir = join(runs, RUN);
  chmodSync(dir, 0o755);
  // The bytes gc took out of the first pack's index in 0.1.0: they must be sent again.
  writeFileSync(join(dir, "notes-again.txt"), "first notes, unique to this run\n");
  writeFileSync(join(dir, "more.txt"), "pushed by the new release\n");
  const pushed = await push({ runsDir: runs, remote: store });
  assert.deepEqual(pushed.runs.map((r) => r.id), [RUN]);
  assert.ok(pushed.objects >= 3, "both files and the new tree are uploaded");
  assert.equal((await push({ runsDir: runs, remote: store })).runs.length, 0, "then up to date");

  const b = join(root, "b");
  await clone({ runsDir: b, remote: store });
  assert.deepEqual(runFiles(b), runFiles(runs));

  await gc({ runsDir: runs, remote: store, graceMs: 0 });
  const indexes = readdirSync(join(store, "packs")).filter((k) => k.endsWith(".idx"));
  assert.ok(indexes.length > 0 && indexes.every((k) => /^[0-9a-f]{64}\.[0-9a-f]{64}\.idx$/.test(k)), "gc gave every index its immutable key");
  const c = join(root, "c");
  await clone({ runsDir: c, remote: store });
  assert.deepEqual(runFiles(c), runFiles(runs));
  assert.equal((await pull({ runsDir: b, remote: store })).runs.length, 0);
});

test("0.1.0's own state for the store (a kept copy of the index its gc trimmed since) makes no push skip an object", async () => {
  const { root, store, runs } = unpack();
  // The fixture's runs directory remembers the store under the path it had when made: give that
  // state the store's path here, as if nothing had moved.
  const opened = await openRemote(store, {});
  await closeRemote(opened);
  const remotes = join(runs, ".gage-sync", "remotes");
  for (const name of readdirSync(remotes)) {
    const kind = name.slice(name.indexOf(".") + 1) as "view" | "in-sync" | "packs";
    renameSync(join(remotes, name), statePaths.remote(runs, opened.url, kind));
  }
  const dir = join(runs, RUN);
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, "notes-again.txt"), "first notes, unique to this run\n");
  const pushed = await push({ runsDir: runs, remote: store });
  assert.ok(pushed.objects >= 2, "the bytes 0.1.0's gc dropped are uploaded, whatever the kept copy lists");
  const b = join(root, "b");
  await clone({ runsDir: b, remote: store });
  assert.deepEqual(runFiles(b), runFiles(runs));
});
