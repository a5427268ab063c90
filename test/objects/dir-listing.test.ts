import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, lstatSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { compareNames } from "../../src/objects/codec.js";
import { listDir, listDirJs, listDirNative, listTrees, readListing, S_IFDIR } from "../../src/objects/dir-listing.js";
import { withTempDir } from "../helpers/fixtures.js";

const REPO = new URL("../..", import.meta.url).pathname;

// `npm install` builds the addon where a C compiler is (as on CI); GAGE_NATIVE=0 opts out.
test("the native directory lister is built and in use", { skip: process.env.GAGE_NATIVE === "0" && "GAGE_NATIVE=0" }, () => {
  assert.ok(listDirNative, "native/build/Release/gage_dir_listing.node is missing: run `npm install` (it needs g++, make and python3)");
  assert.equal(listDir, listDirNative);
});

/** Files, a subdirectory, a symlink, a fifo, a read-only file and names that sort differently in UTF-16 and UTF-8. */
function makeMixedDir(dir: string): string[] {
  const names = ["b.txt", "A.txt", "é", "\u{1F600}", "\uFF5E", "sub", "link", "fifo", "ro"];
  writeFileSync(join(dir, "b.txt"), "bravo");
  writeFileSync(join(dir, "A.txt"), "");
  writeFileSync(join(dir, "é"), "x".repeat(5000));
  writeFileSync(join(dir, "\u{1F600}"), "smile");
  writeFileSync(join(dir, "\uFF5E"), "tilde");
  mkdirSync(join(dir, "sub"));
  writeFileSync(join(dir, "sub", "inner"), "inner");
  symlinkSync("b.txt", join(dir, "link"));
  execFileSync("mkfifo", [join(dir, "fifo")]);
  writeFileSync(join(dir, "ro"), "read-only");
  chmodSync(join(dir, "ro"), 0o444);
  return names;
}

test("both listers give the same bytes: every entry, sorted by UTF-8 name, with its lstat fields", async () => {
  await withTempDir("gage-listing-", async (tmp) => {
    const names = makeMixedDir(tmp.path);
    const js = listDirJs(tmp.path);
    if (listDirNative) assert.deepEqual(listDirNative(tmp.path), js);
    const entries = readListing(js);
    assert.deepEqual(entries.map((e) => e.name), [...names].sort(compareNames));
    for (const e of entries) {
      const st = lstatSync(join(tmp.path, e.name));
      assert.equal(e.mode, st.mode, e.name);
      if ((e.mode & 0o170000) === S_IFDIR) {
        // A directory's own stamps are left out (its listing carries its changes).
        assert.deepEqual([e.size, e.mtimeMs, e.ctimeMs, e.ino], [0, 0, 0, 0]);
      } else {
        assert.deepEqual([e.size, e.mtimeMs, e.ctimeMs, e.ino], [st.size, st.mtimeMs, st.ctimeMs, st.ino], e.name);
      }
    }
    assert.deepEqual(readListing(listDir(join(tmp.path, "sub"))).map((e) => e.name), ["inner"]);
    mkdirSync(join(tmp.path, "empty"));
    assert.equal(listDir(join(tmp.path, "empty")).length, 0);
  });
});

test("a missing path, a file or a NUL in the path fails as fs does: ENOENT, ENOTDIR, ERR_INVALID_ARG_VALUE", async () => {
  await withTempDir("gage-listing-", async (tmp) => {
    writeFileSync(join(tmp.path, "file"), "x");
    for (const list of [listDirJs, ...(listDirNative ? [listDirNative] : [])]) {
      assert.throws(() => list(join(tmp.path, "missing")), { code: "ENOENT", path: join(tmp.path, "missing") });
      assert.throws(() => list(join(tmp.path, "file")), { code: "ENOTDIR" });
      // Not the folder named by the part before the NUL.
      assert.throws(() => list(`${tmp.path}\0/missing`), { code: "ERR_INVALID_ARG_VALUE" });
    }
  });
});

test("a snapshot through node:fs (GAGE_NATIVE=0) gives the same tree ids as through the addon", async () => {
  await withTempDir("gage-listing-", async (tmp) => {
    const dir = join(tmp.path, "run");
    mkdirSync(dir);
    makeMixedDir(dir);
    const script = `
      const { snapshotDir, idOnlySink, StatCache } = await import(${JSON.stringify(join(REPO, "src/objects/index.ts"))});
      const { listDir, listDirJs } = await import(${JSON.stringify(join(REPO, "src/objects/dir-listing.ts"))});
      const cache = new StatCache({ now: () => Date.now() + 60_000 });
      const first = await snapshotDir(${JSON.stringify(dir)}, { sink: idOnlySink, cache });
      const again = await snapshotDir(${JSON.stringify(dir)}, { sink: idOnlySink, cache });
      console.log(JSON.stringify({ js: listDir === listDirJs, tree: first.treeId, again: again.treeId, hashed: again.stats.hashedFiles }));`;
    const run = (env: NodeJS.ProcessEnv) =>
      JSON.parse(execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: REPO, env: { ...process.env, ...env }, encoding: "utf8" }));
    const viaFs = run({ GAGE_NATIVE: "0" });
    const viaDefault = run({});
    assert.equal(viaFs.js, true);
    assert.equal(viaFs.tree, viaDefault.tree);
    // The second snapshot is answered by the directory's signature in both.
    for (const r of [viaFs, viaDefault]) {
      assert.equal(r.again, r.tree);
      assert.equal(r.hashed, 0);
    }
  });
});

test("listing ahead covers every directory below the roots, as listDir gives each; a bad root is its error", { skip: !listDirNative && "the addon is not built" }, async () => {
  await withTempDir("gage-listing-", async (tmp) => {
    const roots = ["a", "b"].map((n) => join(tmp.path, n));
    for (const root of roots) {
      mkdirSync(join(root, "x", "y", "z"), { recursive: true });
      mkdirSync(join(root, "w"));
      writeFileSync(join(root, "x", "y", "f"), "f");
    }
    writeFileSync(join(tmp.path, "file"), "not a folder");
    for (const threads of [1, 3]) {
      const listed = listTrees([...roots, join(tmp.path, "missing"), join(tmp.path, "file")], threads)!;
      const dirs = roots.flatMap((r) => [r, join(r, "x"), join(r, "x", "y"), join(r, "x", "y", "z"), join(r, "w")]);
      assert.deepEqual([...listed.keys()].filter((k) => !(listed.get(k) instanceof Error)).sort(), dirs.sort());
      for (const d of dirs) assert.deepEqual(listed.get(d), listDirJs(d), d);
      assert.equal((listed.get(join(tmp.path, "missing")) as NodeJS.ErrnoException).code, "ENOENT");
      assert.equal((listed.get(join(tmp.path, "file")) as NodeJS.ErrnoException).code, "ENOTDIR");
    }
  });
});
