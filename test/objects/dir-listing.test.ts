import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, lstatSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { compareNames } from "../../src/objects/codec.js";
import { digestTrees, digestTreesAsync, listDir, listDirJs, listDirNative, nativeListing, readListing, S_IFDIR, S_IFREG, type TreeSum } from "../../src/objects/dir-listing.js";
import { withTempDir } from "../helpers/fixtures.js";

const REPO = new URL("../..", import.meta.url).pathname;

// `npm install` builds the addon where a C compiler is (as on CI); GAGE_NATIVE=0 opts out.
test("the native directory lister is built and in use", { skip: process.env.GAGE_NATIVE === "0" && "GAGE_NATIVE=0" }, () => {
  assert.ok(listDirNative, "native/build/Release/gage_dir_listing.node is missing: run `npm install` (it needs g++, make and python3)");
  assert.ok(nativeListing);
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
      const { snapshotDir, idOnlySink } = await import(${JSON.stringify(join(REPO, "src/objects/index.ts"))});
      const { StatCache } = await import(${JSON.stringify(join(REPO, "src/worktree/index.ts"))});
      const { nativeListing } = await import(${JSON.stringify(join(REPO, "src/objects/dir-listing.ts"))});
      const cache = new StatCache({ now: () => Date.now() + 60_000 });
      const first = await snapshotDir(${JSON.stringify(dir)}, { sink: idOnlySink, cache });
      const again = await snapshotDir(${JSON.stringify(dir)}, { sink: idOnlySink, cache });
      console.log(JSON.stringify({ js: !nativeListing, tree: first.treeId, again: again.treeId, hashed: again.stats.hashedFiles }));`;
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

/** digestTrees' sum of a tree, computed here from listDirJs: the format its rows depend on. */
function sumByHand(root: string): { digest: string; files: number; bytes: number; dirs: number } {
  const h = createHash("sha256");
  const sum = { files: 0, bytes: 0, dirs: 0 };
  const walk = (path: string) => {
    const listing = listDirJs(path);
    h.update(`${path === root ? "" : path.slice(root.length + 1)}\0${listing.length}\0`).update(listing);
    sum.dirs++;
    for (const e of readListing(listing)) {
      if ((e.mode & 0o170000) === S_IFDIR) walk(join(path, e.name));
      else if ((e.mode & 0o170000) === S_IFREG) {
        sum.files++;
        sum.bytes += e.size;
      }
    }
  };
  walk(root);
  return { digest: h.digest("hex"), ...sum };
}

test("a tree's sum digests every listing below the root; any change below changes it; a bad root is its error", { skip: !listDirNative && "the addon is not built" }, async () => {
  await withTempDir("gage-listing-", async (tmp) => {
    const roots = ["a", "b"].map((n) => join(tmp.path, n));
    for (const root of roots) {
      mkdirSync(join(root, "x", "y", "z"), { recursive: true });
      mkdirSync(join(root, "w"));
      writeFileSync(join(root, "x", "y", "f"), "deep");
      writeFileSync(join(root, "top"), "top file");
    }
    writeFileSync(join(tmp.path, "file"), "not a folder");
    const all = [...roots, join(tmp.path, "missing"), join(tmp.path, "file")];
    for (const threads of [1, 3]) {
      const sums = digestTrees(all, threads)!;
      for (const root of roots) {
        const sum = sums.get(root) as TreeSum;
        const byHand = sumByHand(root);
        assert.deepEqual({ digest: sum.digest, files: sum.files, bytes: sum.bytes, dirs: sum.dirs }, byHand);
        assert.equal(sum.symlinks, 0);
        assert.equal(sum.newest, Math.max(...["top", "x/y/f"].map((f) => lstatSync(join(root, f))).flatMap((st) => [st.mtimeMs, st.ctimeMs])));
      }
      assert.equal((sums.get(join(tmp.path, "missing")) as NodeJS.ErrnoException).code, "ENOENT");
      assert.equal((sums.get(join(tmp.path, "file")) as NodeJS.ErrnoException).code, "ENOTDIR");
    }
    // A file three folders down, rewritten with the same size: another sum for its root only.
    const before = digestTrees(roots, 2)!;
    writeFileSync(join(roots[0]!, "x", "y", "f"), "DEEP");
    const after = digestTrees(roots, 2)!;
    assert.notEqual((after.get(roots[0]!) as TreeSum).digest, (before.get(roots[0]!) as TreeSum).digest);
    assert.equal((after.get(roots[1]!) as TreeSum).digest, (before.get(roots[1]!) as TreeSum).digest);
  });
});

test("sums told to stop leave every root not yet begun with ECANCELED; a flag never set changes nothing", { skip: !listDirNative && "the addon is not built" }, async () => {
  await withTempDir("gage-listing-", async (tmp) => {
    const roots = Array.from({ length: 50 }, (_, i) => join(tmp.path, `r${i}`));
    for (const root of roots) {
      mkdirSync(join(root, "sub"), { recursive: true });
      writeFileSync(join(root, "sub", "f"), root);
    }
    const unset = new Int32Array(new SharedArrayBuffer(4));
    const whole = await digestTreesAsync(roots, 2, unset)!;
    const plain = digestTrees(roots, 2)!;
    for (const root of roots) assert.deepEqual(whole.get(root), plain.get(root));
    const stop = new Int32Array(new SharedArrayBuffer(4));
    Atomics.store(stop, 0, 1);
    const stopped = await digestTreesAsync(roots, 2, stop)!;
    for (const root of roots) assert.equal((stopped.get(root) as NodeJS.ErrnoException).code, "ECANCELED", root);
  });
});

test("names that are not UTF-8 are listed as their bytes by both listers, never left out", async () => {
  await withTempDir("gage-listing-raw-", async (tmp) => {
    const raw = [Buffer.from([0x63, 0x61, 0x66, 0xe9]), Buffer.from([0x80]), Buffer.from("z.txt")];
    for (const name of raw) writeFileSync(Buffer.concat([Buffer.from(`${tmp.path}/`), name]), "x");
    const js = listDirJs(tmp.path);
    if (listDirNative) assert.deepEqual(listDirNative(tmp.path), js);
    const listed: Buffer[] = [];
    for (let p = 0; p < js.length; p += 38 + js.readUInt16LE(p)) listed.push(js.subarray(p + 38, p + 38 + js.readUInt16LE(p)));
    assert.deepEqual(listed, [...raw].sort(Buffer.compare));
  });
});
