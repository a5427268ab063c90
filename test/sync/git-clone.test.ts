// A clone from a bare repository writes a new run's files straight from their pack entries (on the
// native addon's threads when it is built): the files come out as git's own clone has them, the
// next push reads none of them, deltas git made are resolved, and a pack whose index leads an id
// to another blob's bytes, or whose entry is damaged, is refused with nothing written.
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { MAX_POINTER } from "../../src/sync/git/lfs.js";
import { clone, planPush, push, status } from "../../src/sync/index.js";
import { tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";
import { git, initBare } from "../helpers/git-http.js";

const tmp = tempDir("gage-git-clone-");
after(() => tmp.cleanup());
let n = 0;

/** The fixture runs pushed into a new bare repository. */
async function pushedCase(): Promise<{ root: string; runs: string; bare: string }> {
  const root = join(tmp.path, `case-${++n}`);
  mkdirSync(root);
  const runs = unpackFixtureRuns(root);
  const bare = await initBare(join(root, "team.git"));
  await push({ runsDir: runs, remote: bare });
  return { root, runs, bare };
}

/** Every file below `dir` (but `ID.project` and `.gage-sync`), by path, with its bytes. */
function filesOf(dir: string, rel = ""): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    const path = rel === "" ? e.name : `${rel}/${e.name}`;
    if (e.name === ".gage-sync" || e.name === ".git" || e.name.endsWith(".project")) continue;
    if (e.isDirectory()) for (const [p, b] of filesOf(dir, path)) out.set(p, b);
    else if (e.isFile()) out.set(path, readFileSync(join(dir, path)).toString("base64"));
  }
  return out;
}

/** The bare repository's one pack and index, and its runs' blobs larger than any LFS pointer. */
async function packOf(bare: string): Promise<{ idxPath: string; packPath: string; blobs: string[] }> {
  const packDir = join(bare, "objects", "pack");
  const idxs = readdirSync(packDir).filter((f) => f.endsWith(".idx"));
  assert.equal(idxs.length, 1, "one push, one pack");
  const idxPath = join(packDir, idxs[0]!);
  const listed = (await git(["cat-file", "--batch-all-objects", "--batch-check"], { cwd: bare })).trim().split("\n");
  const readme = (await git(["rev-parse", "gage-runs:README.md"], { cwd: bare })).trim();
  const blobs = listed.map((l) => l.split(" ")).filter(([oid, type, size]) => type === "blob" && Number(size) > MAX_POINTER && oid !== readme).map(([oid]) => oid!);
  return { idxPath, packPath: idxPath.replace(/\.idx$/, ".pack"), blobs };
}

/** The position of each id's offset in a version-2 index. */
function offsetAt(idx: Buffer, oid: string): number {
  const count = idx.readUInt32BE(8 + 255 * 4);
  for (let k = 0; k < count; k++) if (idx.toString("hex", 1032 + k * 20, 1052 + k * 20) === oid) return 1032 + count * 24 + k * 4;
  throw new Error(`${oid} is not in the index`);
}

function overwrite(path: string, bytes: Buffer): void {
  chmodSync(path, 0o644);
  writeFileSync(path, bytes);
}

/** No run folder of the fixture's in `dir` (the clone stopped before anything was renamed in). */
function noRuns(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((x) => x !== ".gage-sync") : [];
}

/** The files of a runs directory are those of git's own clone of the branch (but its README). */
async function assertAsGitClones(bare: string, runsDir: string, plain: string): Promise<void> {
  await git(["clone", "-q", "-b", "gage-runs", `file://${bare}`, plain]);
  const ours = filesOf(runsDir);
  const theirs = filesOf(plain);
  theirs.delete("README.md");
  assert.deepEqual([...ours.keys()].sort().join("\n"), [...theirs.keys()].sort().join("\n"));
  for (const [path, bytes] of theirs) assert.ok(ours.get(path) === bytes, path);
}

test("a clone's files are git's clone's files, and the next push reads none of them", async () => {
  const c = await pushedCase();
  const cloned = join(c.root, "cloned");
  const result = await clone({ runsDir: cloned, remote: c.bare });
  assert.equal(result.runs.length, 9);
  await assertAsGitClones(c.bare, cloned, join(c.root, "plain"));
  // The stat cache learned every file written with its true id: in sync, nothing to push.
  const st = await status({ runsDir: cloned });
  assert.ok(st.runs.every((r) => r.state === "in sync"), JSON.stringify(st.runs));
  const again = await push({ runsDir: cloned });
  assert.equal(again.runs.length, 0);
  assert.equal(again.upToDate, 9);
});

test("a clone of a repository git packed with deltas resolves them", async () => {
  const c = await pushedCase();
  await git(["repack", "-a", "-d", "-f", "--depth=20", "--window=50"], { cwd: c.bare });
  const cloned = join(c.root, "cloned");
  await clone({ runsDir: cloned, remote: c.bare });
  await assertAsGitClones(c.bare, cloned, join(c.root, "plain"));
  // Files written on native threads and those left to the reader (deltas) alike left their stamps.
  const plan = await planPush({ runsDir: cloned, remote: c.bare });
  try {
    assert.equal(plan.runs.length, 0);
    assert.equal(plan.hashed ?? 0, 0, "a file's contents were read");
  } finally {
    await plan.close();
  }
});

test("an index that leads two blobs to each other's bytes, or a damaged blob entry, stops a clone with nothing written", async () => {
  const c = await pushedCase();
  const { idxPath, packPath, blobs } = await packOf(c.bare);
  assert.ok(blobs.length >= 2);
  const idx = readFileSync(idxPath);
  const [a, b] = [offsetAt(idx, blobs[0]!), offsetAt(idx, blobs[1]!)];
  const swapped = Buffer.from(idx);
  swapped.writeUInt32BE(idx.readUInt32BE(a), b);
  swapped.writeUInt32BE(idx.readUInt32BE(b), a);
  overwrite(idxPath, swapped);
  const first = join(c.root, "swapped");
  await assert.rejects(clone({ runsDir: first, remote: c.bare }), { code: "CORRUPT_OBJECT" });
  assert.deepEqual(noRuns(first), []);

  overwrite(idxPath, idx);
  const pack = readFileSync(packPath);
  const at = idx.readUInt32BE(a);
  pack[at + 6] ^= 0xff;
  overwrite(packPath, pack);
  const second = join(c.root, "damaged");
  await assert.rejects(clone({ runsDir: second, remote: c.bare }), { code: "CORRUPT_OBJECT" });
  assert.deepEqual(noRuns(second), []);
});
