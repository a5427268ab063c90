import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after } from "node:test";
import { listRuns, readRun } from "../../src/runs/run.js";
import { runPaths } from "../../src/runs/layout.js";
import { appendUserLog } from "../../src/runs/user-log.js";
import { writeProjectRef } from "../../src/runs/project-ref.js";
import type { Storage } from "../../src/remotes/storage.js";
import { clone, pull, push, status } from "../../src/sync/index.js";
import { tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";

/** The scenario's run in the fixtures (label "Something to share"). */
export const SHARED_RUN = "87bd998b-bf53-4585-9afb-cc19b62871d8";
export const DELETED_RUN = "0dcb788a-e588-4173-9637-74a8deba065a";

/**
 * A maker of test cases in one temporary folder (removed after the file's tests): each call gives
 * a fresh folder with the fixture runs unpacked in `origin`, and where a local remote goes.
 */
export function freshCases(prefix: string): () => { root: string; origin: string; remote: string } {
  const tmp = tempDir(prefix);
  after(() => tmp.cleanup());
  let n = 0;
  return () => {
    const root = join(tmp.path, `case-${++n}`);
    mkdirSync(root);
    return { root, origin: unpackFixtureRuns(root), remote: join(root, "remote") };
  };
}

/** Every path under `dir` (relative), with modes, for comparing two runs directories. */
export function listing(dir: string, skip = (name: string) => name === ".gage-sync" || name.endsWith(".project")): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      if (rel === "" && skip(name)) continue;
      const p = rel === "" ? name : `${rel}/${name}`;
      const st = statSync(join(dir, p));
      out.push(`${p} ${(st.mode & 0o777).toString(8)}${st.isFile() ? ` ${readFileSync(join(dir, p)).length}` : ""}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk("");
  return out;
}

/**
 * The share-and-retrieve story through push, pull and clone: A shares, B clones, relabels and
 * shares back, A pulls and sees the new label; `.project` files are never sent nor touched.
 */
export async function shareAndRetrieve(root: string, remote: () => Promise<Storage> | Storage): Promise<void> {
  const runsA = unpackFixtureRuns(root);
  const runsB = join(root, "b-runs");
  const projectA = readFileSync(runPaths(runsA, SHARED_RUN).projectFile, "utf8");

  const s1 = await remote();
  const pushed = await push({ runsDir: runsA, remote: s1, now: () => 1_800_000_000_000 });
  assert.equal(pushed.runs.length, 9, "every live run is pushed, the deleted one is not");
  assert.ok(pushed.objects > 0 && pushed.head);

  const again = await push({ runsDir: runsA, remote: s1 });
  assert.equal(again.runs.length, 0);
  assert.equal(again.upToDate, 9);
  assert.equal(again.head, undefined, "a no-change push writes nothing");
  assert.equal(again.objects, 0);

  const cloned = await clone({ runsDir: runsB, remote: await remote() });
  assert.equal(cloned.runs.length, 9);
  assert.deepEqual(listing(runsB), listing(runsA, (n) => n === ".gage-sync" || n.endsWith(".project") || n.startsWith(DELETED_RUN)));
  assert.equal(readdirSync(runsB).filter((n) => n.endsWith(".project")).length, 0, "no .project is sent");

  const pB = runPaths(runsB, SHARED_RUN);
  await writeProjectRef(pB.projectFile, "/somewhere/else");
  await appendUserLog(pB.userDir, { set: { label: "Just an example" } }, { author: "b", nowMs: Date.now() });
  const st = await status({ runsDir: runsB, remote: await remote() });
  assert.equal(st.runs.find((r) => r.id === SHARED_RUN)?.state, "ahead");
  assert.equal(st.runs.filter((r) => r.state === "in sync").length, 8);

  const back = await push({ runsDir: runsB, remote: await remote() });
  assert.deepEqual(back.runs.map((r) => [r.id, r.what]), [[SHARED_RUN, "user +1"]]);
  assert.equal(back.objects, 0, "a label edit sends no objects");

  const stA = await status({ runsDir: runsA, remote: await remote() });
  assert.equal(stA.runs.find((r) => r.id === SHARED_RUN)?.state, "behind");

  const pulled = await pull({ runsDir: runsA, remote: await remote() });
  assert.deepEqual(pulled.runs.map((r) => r.id), [SHARED_RUN]);
  assert.equal((await readRun(runsA, SHARED_RUN)).label, "Just an example");
  assert.equal(readFileSync(runPaths(runsA, SHARED_RUN).projectFile, "utf8"), projectA, "A's .project is untouched");
  assert.equal(readFileSync(pB.projectFile, "utf8"), "file:/somewhere/else");
  assert.ok(existsSync(runPaths(runsA, DELETED_RUN).deletedMetaDir));
  assert.ok(!existsSync(runPaths(runsA, DELETED_RUN).metaDir), "a deleted run is not pulled back");

  const none = await pull({ runsDir: runsA, remote: await remote() });
  assert.equal(none.runs.length, 0);
  assert.deepEqual((await listRuns(runsA)).map((r) => r.label ?? ""), (await listRuns(runsB)).map((r) => r.label ?? ""));
}
