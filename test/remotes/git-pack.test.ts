// Git objects read and written here, checked against real git: a repository git packed with
// deltas is read object for object as `git cat-file` shows it; a pack written here passes
// `git fsck` and reads back in git; damaged packs and loose objects are refused, never trusted.
import assert from "node:assert/strict";
import { chmodSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { deflateSync } from "node:zlib";
import { GitObjectStore, hashObject } from "../../src/remotes/git/objects.js";
import { applyDelta } from "../../src/remotes/git/pack-read.js";
import { hashBytes } from "../../src/objects/ids.js";
import { git, initBare } from "../helpers/git-http.js";

let dir: string;
const env = { GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@localhost", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@localhost" };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "gage-git-pack-"));
});
after(() => rm(dir, { recursive: true, force: true }));

test("a repository git packed with deltas reads object for object as git shows it", async () => {
  const work = join(dir, "work");
  await git(["init", "-q", work]);
  // Files alike enough that git stores most of them as deltas of one another.
  const base = Array.from({ length: 400 }, (_, i) => `line ${i} of a log that changes a little\n`).join("");
  for (let k = 0; k < 12; k++) {
    writeFileSync(join(work, `log-${k % 3}.txt`), `${base}step ${k}\n${base.slice(0, 300 * k)}`);
    await git(["add", "-A"], { cwd: work, env });
    await git(["commit", "-q", "-m", `step ${k}`], { cwd: work, env });
  }
  await git(["repack", "-a", "-d", "-f", "--depth=20", "--window=50"], { cwd: work });
  const gitdir = join(work, ".git");
  const listed = (await git(["cat-file", "--batch-all-objects", "--batch-check"], { cwd: work })).trim().split("\n");
  const verify = await git(["verify-pack", "-v", ...readdirSync(join(gitdir, "objects", "pack")).filter((n) => n.endsWith(".idx")).map((n) => join(gitdir, "objects", "pack", n))]);
  assert.match(verify, /chain length = \d+/, "git made deltas");
  const store = new GitObjectStore(gitdir);
  try {
    for (const line of listed) {
      const [oid, type] = line.split(" ") as [string, "blob" | "tree" | "commit"];
      const ours = await store.read(oid, type, oid);
      const theirs = Buffer.from(await gitBytes(work, type, oid), "latin1");
      assert.ok(ours.equals(theirs), `${type} ${oid}`);
    }
    const blobs = listed.filter((l) => l.includes(" blob ")).map((l) => l.split(" ")[0]!);
    const seen = new Set<string>();
    for await (const { oid, data } of store.readMany(blobs, "blob", (o) => o)) {
      assert.equal(hashObject("blob", data), oid);
      seen.add(oid);
    }
    assert.equal(seen.size, blobs.length);
  } finally {
    store.close();
  }
});

async function gitBytes(cwd: string, type: string, oid: string): Promise<string> {
  const { execFile } = await import("node:child_process");
  return new Promise((resolve, reject) => {
    execFile("git", ["cat-file", type, oid], { cwd, encoding: "latin1", maxBuffer: 1 << 26 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

test("a pack written here passes git fsck and git reads every object of it", async () => {
  const bare = await initBare(join(dir, "written.git"));
  const store = new GitObjectStore(bare);
  const big = Buffer.alloc(300_000, "x");
  const blob = await store.write("blob", Buffer.from("hello\n"));
  const bigOid = await store.write("blob", big);
  const tree = await store.write("tree", Buffer.concat([Buffer.from("100644 a.txt\0"), Buffer.from(blob, "hex"), Buffer.from("100644 big\0"), Buffer.from(bigOid, "hex")]));
  const commit = await store.write("commit", Buffer.from(`tree ${tree}\nauthor t <t@l> 1 +0000\ncommitter t <t@l> 1 +0000\n\nm\n`));
  assert.equal(await store.write("blob", Buffer.from("hello\n")), blob, "a second write of one object is the same id");
  assert.equal(store.written, 4);
  // Readable in this process before the pack is named: the write is made visible first.
  assert.equal((await store.read(blob, "blob", "a.txt")).toString(), "hello\n");
  store.close();
  writeFileSync(join(bare, "refs", "heads", "main"), `${commit}\n`);
  await git(["fsck", "--full", "--strict"], { cwd: bare });
  assert.equal(await git(["cat-file", "-p", `${commit}:a.txt`], { cwd: bare }), "hello\n");
  assert.equal(await git(["cat-file", "-s", bigOid], { cwd: bare }), "300000\n");
  assert.deepEqual(readdirSync(join(bare, "objects", "pack")).filter((n) => n.startsWith("tmp_")), [], "no temporary file is left");
  const again = new GitObjectStore(bare);
  assert.ok((await again.read(bigOid, "blob", "big")).equals(big));
  again.close();
});

test("a damaged pack entry, a lying loose object and a delta reaching outside its base are refused", async () => {
  const bare = await initBare(join(dir, "damaged.git"));
  const store = new GitObjectStore(bare);
  const oid = await store.write("blob", Buffer.from("a".repeat(1000)));
  store.flush();
  store.close();
  const pack = readdirSync(join(bare, "objects", "pack")).find((n) => n.endsWith(".pack"))!;
  const path = join(bare, "objects", "pack", pack);
  const bytes = readFileSync(path);
  bytes[bytes.length - 25] ^= 0xff;
  chmodSync(path, 0o644);
  writeFileSync(path, bytes);
  await assert.rejects(new GitObjectStore(bare).read(oid, "blob", "x"), { code: "CORRUPT_OBJECT" });

  // A loose object whose header claims more than its bytes hold.
  const lie = Buffer.from("blob 999999\0short");
  const lieOid = hashObject("blob", Buffer.from("short"));
  const { mkdirSync } = await import("node:fs");
  mkdirSync(join(bare, "objects", lieOid.slice(0, 2)), { recursive: true });
  writeFileSync(join(bare, "objects", lieOid.slice(0, 2), lieOid.slice(2)), deflateSync(lie));
  await assert.rejects(new GitObjectStore(bare).read(lieOid, "blob", "x"), { code: "CORRUPT_OBJECT" });

  // Delta: base of 3 bytes, result 10, copying 10 bytes from offset 0.
  assert.throws(() => applyDelta(Buffer.from("abc"), Buffer.from([3, 10, 0x90, 10]), "d"), { code: "CORRUPT_OBJECT" });
  assert.equal(applyDelta(Buffer.from("abc"), Buffer.from([3, 5, 0x90, 3, 2, 0x78, 0x79]), "d").toString(), "abcxy");
});

test("blobs read many at once (on worker threads) come with their SHA-256; a swapped or damaged entry is refused", async () => {
  const bare = await initBare(join(dir, "batch.git"));
  const writer = new GitObjectStore(bare);
  const contents = Array.from({ length: 600 }, (_, k) => Buffer.from(`file ${k}\n`.repeat(1 + (k % 50))));
  const oids: string[] = [];
  for (const c of contents) oids.push(await writer.write("blob", c));
  writer.flush();
  writer.close();
  const store = new GitObjectStore(bare);
  try {
    const byOid = new Map(oids.map((o, k) => [o, contents[k]!]));
    let withSum = 0;
    for await (const { oid, data, sha256 } of store.readMany(oids, "blob", (o) => o)) {
      assert.ok(data.equals(byOid.get(oid)!), oid);
      if (sha256 !== undefined) {
        assert.equal(sha256, hashBytes(data));
        withSum++;
      }
      byOid.delete(oid);
    }
    assert.equal(byOid.size, 0);
    assert.equal(withSum, oids.length, "every whole entry was read and hashed on a worker");
  } finally {
    store.close();
  }

  // The index's first two offsets swapped: each id now leads to the other's bytes.
  const packDir = join(bare, "objects", "pack");
  const idxPath = join(packDir, readdirSync(packDir).find((n) => n.endsWith(".idx"))!);
  const idx = readFileSync(idxPath);
  const count = idx.readUInt32BE(8 + 255 * 4);
  const offsets = 8 + 1024 + count * 24;
  const first = idx.readUInt32BE(offsets);
  idx.writeUInt32BE(idx.readUInt32BE(offsets + 4), offsets);
  idx.writeUInt32BE(first, offsets + 4);
  chmodSync(idxPath, 0o644);
  writeFileSync(idxPath, idx);
  const swapped = new GitObjectStore(bare);
  const readAll = async (s: GitObjectStore) => {
    for await (const _ of s.readMany(oids, "blob", (o) => o));
  };
  await assert.rejects(readAll(swapped), { code: "CORRUPT_OBJECT" });
  swapped.close();

  // A damaged entry's compressed bytes.
  const packPath = idxPath.replace(/\.idx$/, ".pack");
  const pack = readFileSync(packPath);
  pack[first + 4] ^= 0xff;
  chmodSync(packPath, 0o644);
  writeFileSync(packPath, pack);
  idx.writeUInt32BE(first, offsets);
  writeFileSync(idxPath, idx);
  const damaged = new GitObjectStore(bare);
  await assert.rejects(readAll(damaged), { code: "CORRUPT_OBJECT" });
  damaged.close();
});

test("a repository of many packs (one per push) reads every object, with a bounded number of files open", async () => {
  const bare = await initBare(join(dir, "many.git"));
  const writer = new GitObjectStore(bare);
  const oids: string[] = [];
  for (let k = 0; k < 80; k++) {
    oids.push(await writer.write("blob", Buffer.from(`push ${k}\n`)));
    writer.flush();
  }
  writer.close();
  assert.equal(readdirSync(join(bare, "objects", "pack")).filter((n) => n.endsWith(".idx")).length, 80);
  const store = new GitObjectStore(bare);
  try {
    for (const [k, oid] of oids.entries()) assert.equal((await store.read(oid, "blob", oid)).toString(), `push ${k}\n`);
    const open = readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return readlinkSync(join("/proc/self/fd", fd)).startsWith(join(bare, "objects", "pack"));
      } catch {
        return false;
      }
    });
    assert.ok(open.length <= 64, `${open.length} pack files open`);
  } finally {
    store.close();
  }
});
