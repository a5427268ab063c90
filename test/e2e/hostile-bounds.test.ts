import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { constants, createDeflateRaw, deflateRawSync } from "node:zlib";
import { encodeChunkList, hashBytes, type ChunkRef, type ObjectId, type TreeEntry } from "../../src/objects/index.js";
import { CODEC_DEFLATE, CODEC_RAW } from "../../src/objects/pack.js";
import { timeKeyPart } from "../../src/sync/heads.js";
import { gage } from "../helpers/cli.js";
import { tempDir } from "../helpers/fixtures.js";
import { assertRefused, CraftedStore, freshDir, gageMeasured, runIdOf, writeRun } from "./hostile-store.js";

// Bounded work: every store here is a few KB to a few MB, crafted to make a reader allocate or loop
// on what the store declares. Each ends in one line, exit 6, within a timeout and a memory bound
// (the child's peak resident memory).

const tmp = tempDir("gage-hostile-bounds-");
after(() => tmp.cleanup());

const EXIT_INTEGRITY = 6;
const RUN = runIdOf(0x100);
let n = 0;

/** A store whose one run has the files tree `files` (built by `build`) and a sound meta tree. */
async function storeWith(build: (store: CraftedStore) => Promise<ObjectId>, opts: { compress?: boolean } = {}): Promise<CraftedStore> {
  const store = new CraftedStore(freshDir(tmp.path, `store-${n++}`), opts);
  const files = await build(store);
  await store.head([{ runId: RUN, files, meta: await store.metaTree(RUN) }]);
  return store;
}

/** Pulls `store` into a fresh runs directory, measuring the child. */
async function pullFrom(store: CraftedStore, timeoutMs = 60_000) {
  const runs = freshDir(tmp.path, `runs-${n++}`);
  const r = await gageMeasured(["pull", store.root, "-y"], { GAGE_RUNS: runs }, timeoutMs);
  return { ...r, runs };
}

const visible = (runs: string) => readdirSync(runs).filter((name) => name !== ".gage-sync");

/** `bytes` zeros, deflated (run-length strategy: fast), a deflate bomb of a few hundred KB. */
async function deflatedZeros(bytes: number): Promise<Buffer> {
  const deflate = createDeflateRaw({ level: 9, strategy: constants.Z_RLE, chunkSize: 1 << 20 });
  const out: Buffer[] = [];
  deflate.on("data", (c: Buffer) => out.push(c));
  const zeros = Buffer.alloc(1 << 20);
  for (let done = 0; done < bytes; done += zeros.length) {
    if (!deflate.write(zeros)) await new Promise((r) => deflate.once("drain", r));
  }
  deflate.end();
  await new Promise((r) => deflate.on("end", r));
  return Buffer.concat(out);
}

test("a pack index declaring gigabytes for a small deflated object: refused unread, or inflated only to its bound", async () => {
  const bomb = await deflatedZeros(256 * 1024 * 1024);
  const fake = hashBytes(Buffer.from("the tree a bomb stands for"));
  for (const [rawLength, what] of [
    [0xffffffff, /declares 4294967295 bytes/],
    [200 * 1024 * 1024, /cannot be decompressed/],
  ] as const) {
    const store = await storeWith(async (s) => {
      await s.rawPack(bomb, [{ id: fake, offset: 0, storedLength: bomb.length, rawLength, codec: CODEC_DEFLATE }]);
      return fake;
    });
    const r = await pullFrom(store);
    assertRefused(r, EXIT_INTEGRITY, what);
    assert.deepEqual(visible(r.runs), []);
  }
});

test("a sparse 1 GiB head, pack or pack index is refused without reading it whole", async () => {
  const headStore = await storeWith((s) => s.tree([]));
  const bigHead = join(headStore.root, "heads", `${timeKeyPart(Date.now() + 1000)}-${"ab".repeat(32)}`);
  writeFileSync(bigHead, "");
  truncateSync(bigHead, 1024 ** 3);
  const ls = await gageMeasured(["ls", "--remote", headStore.root], { GAGE_RUNS: freshDir(tmp.path, "runs-ls") });
  assertRefused(ls, EXIT_INTEGRITY, /heads\/.* is larger than \d+ bytes/, 200);

  const fake = hashBytes(Buffer.from("a tree in a sparse pack"));
  const packStore = await storeWith(async (s) => {
    const packId = await s.rawPack(Buffer.alloc(0), [{ id: fake, offset: 0, storedLength: 1024 ** 3, rawLength: 1024 ** 3, codec: CODEC_RAW }]);
    truncateSync(join(s.root, "packs", `${packId}.pack`), 1024 ** 3);
    return fake;
  });
  const r = await pullFrom(packStore);
  assertRefused(r, EXIT_INTEGRITY, /declares 1073741824 bytes/, 200);

  const indexStore = await storeWith((s) => s.tree([]));
  const bigIndex = join(indexStore.root, "packs", `${"cd".repeat(32)}.idx`);
  writeFileSync(bigIndex, "");
  truncateSync(bigIndex, 1024 ** 3);
  assertRefused(await pullFrom(indexStore), EXIT_INTEGRITY, /pack index .* larger than \d+ bytes/, 200);
});

test("a file stored as one-byte chunks (200 KB as 200,000) is refused before its list is decoded", async () => {
  const size = 200_000;
  const store = await storeWith(async (s) => {
    const ids: ObjectId[] = [];
    for (let b = 0; b < 256; b++) ids.push(await s.blob(Buffer.from([b])));
    const ones: ChunkRef[] = Array.from({ length: size }, (_, i) => ({ id: ids[i % 256]!, size: 1 }));
    // The list repeats every 256 chunks: deflated, the store stays a few hundred KB.
    const list = encodeChunkList({ size, chunks: ones });
    const listId = hashBytes(list);
    const stored = deflateRawSync(list);
    await s.rawPack(stored, [{ id: listId, offset: 0, storedLength: stored.length, rawLength: list.length, codec: CODEC_DEFLATE }]);
    return s.tree([{ name: "weights.bin", kind: "file", mode: 0o644, size, id: hashBytes(Buffer.from("whatever")), chunks: listId }]);
  });
  const r = await pullFrom(store);
  assertRefused(r, EXIT_INTEGRITY, /a chunk list of \d+ bytes for a file of 200000/, 200);
});

test("trees where 32 entries share one subtree, five levels deep (a 32 KB store), are refused", async () => {
  const store = await storeWith(async (s) => {
    let tree = await s.tree([await s.fileEntry("f", "x")]);
    for (let level = 0; level < 5; level++) {
      const entries: TreeEntry[] = [];
      for (let i = 0; i < 32; i++) entries.push(s.dirEntry(`d${String(i).padStart(2, "0")}`, tree));
      tree = await s.tree(entries);
    }
    return tree;
  });
  const r = await pullFrom(store);
  assertRefused(r, EXIT_INTEGRITY, /too large to write: more than \d+ entries/);
  assert.deepEqual(visible(r.runs), []);
});

test("trees nested 2,100 and 6,000 deep are refused, without ENAMETOOLONG or a stack overflow", async () => {
  for (const depth of [2100, 6000]) {
    const store = await storeWith(async (s) => {
      let tree = await s.tree([await s.fileEntry("f", "x")]);
      for (let level = 0; level < depth; level++) tree = await s.tree([s.dirEntry("a", tree)]);
      return tree;
    });
    const r = await pullFrom(store);
    assertRefused(r, EXIT_INTEGRITY, /too large to write: folders nested more than \d+ deep/);
    assert.deepEqual(visible(r.runs), []);
  }
});

test("one head holding 16,000 diverging entries for one run is listed (merged once, not per entry)", async () => {
  const store = await storeWith((s) => s.tree([]));
  const meta = await store.metaTree(RUN);
  const entries = Array.from({ length: 16_000 }, (_, i) => ({
    runId: RUN,
    run: { tree: hashBytes(Buffer.from(`diverged ${i}`)), prior: [] },
    meta: { tree: meta, prior: [] },
    user: {},
    summary: { operation: "proj:hello", status: "completed" },
  }));
  await store.rawHead(entries, Date.now() + 1000);
  const r = await gageMeasured(["ls", "--remote", store.root], { GAGE_RUNS: freshDir(tmp.path, "runs-diverged") }, 30_000);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /proj:hello/);
});

test("a FIFO in place of a pack on a folder remote fails the pull (exit 6) instead of hanging", async () => {
  const origin = freshDir(tmp.path, "origin-fifo");
  writeRun(origin, RUN);
  const remote = join(tmp.path, "remote-fifo");
  assert.equal((await gage(["push", remote, "-y"], { env: { GAGE_RUNS: origin } })).code, 0);
  for (const name of readdirSync(join(remote, "packs")).filter((f) => f.endsWith(".pack"))) {
    rmSync(join(remote, "packs", name));
    execFileSync("mkfifo", [join(remote, "packs", name)]);
  }
  const r = await gageMeasured(["pull", remote, "-y"], { GAGE_RUNS: freshDir(tmp.path, "runs-fifo") }, 20_000);
  assertRefused(r, EXIT_INTEGRITY, /packs\/.*\.pack' in .* is not a regular file/);
});

test("a FIFO in place of a meta or user log file in a copy --from source fails the copy instead of hanging", async () => {
  for (const rel of [`${RUN}.meta/started`, `${RUN}.user/01a216cc-e43c-4fff-bfff-ffffffffffff.json`]) {
    const source = freshDir(tmp.path, `copy-source-${n++}`);
    writeRun(source, RUN);
    freshDir(source, `${RUN}.user`);
    rmSync(join(source, rel), { force: true });
    execFileSync("mkfifo", [join(source, rel)]);
    const r = await gageMeasured(["copy", "--from", source, "-a", "-y"], { GAGE_RUNS: freshDir(tmp.path, `copy-dest-${n++}`) }, 20_000);
    assertRefused(r, EXIT_INTEGRITY, /not a regular file/);
    assert.deepEqual(visible(join(tmp.path, `copy-dest-${n - 1}`)), []);
  }
});

test("a pack index offset above 2^53 is an integrity error (exit 6), not a usage error", async () => {
  const fake = hashBytes(Buffer.from("a tree far away"));
  const store = await storeWith(async (s) => {
    await s.rawPack(Buffer.alloc(64), [{ id: fake, offset: 2 ** 60, storedLength: 16, rawLength: 16, codec: CODEC_RAW }]);
    return fake;
  });
  const r = await pullFrom(store);
  assertRefused(r, EXIT_INTEGRITY, /offset \d+, past any pack/);
});

test("a tree entry declaring 10^15 bytes for a 1-byte file is refused (sizes are checked against contents)", async () => {
  const store = await storeWith(async (s) => {
    const one = await s.fileEntry("tiny.txt", "x");
    return s.tree([{ ...one, size: 1e15 }]);
  });
  const r = await pullFrom(store);
  assertRefused(r, EXIT_INTEGRITY, /1 bytes where tree entry .*tiny\.txt says 1000000000000000/);
  assert.deepEqual(visible(r.runs), []);
});
