import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, test } from "node:test";
import { LocalStorage, OPEN_PACKS } from "../../src/remotes/local/index.js";
import { TEMP_PREFIX } from "../../src/remotes/keys.js";
import { withConcurrency } from "../../src/remotes/concurrency.js";
import { withRetry } from "../../src/remotes/retry.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "gage-local-specific-"));
});
after(() => rm(dir, { recursive: true, force: true }));

test("a key used as a folder (or the reverse) is a RemoteConflictError", async () => {
  const storage = new LocalStorage(join(dir, "conflict"));
  await storage.put("a/b", Buffer.from("x"));
  await assert.rejects(storage.put("a", Buffer.from("y")), { code: "REMOTE_CONFLICT" });
  await assert.rejects(storage.put("a/b/c", Buffer.from("y")), { code: "REMOTE_CONFLICT" });
  assert.equal(await storage.stat("a"), undefined);
  await assert.rejects(storage.getBytes("a"), { code: "NOT_FOUND" });
  await storage.delete("a");
  assert.equal((await storage.getBytes("a/b")).toString(), "x");
});

test("a failed put leaves no temporary file, and leftovers of a crash are never listed", async () => {
  const root = join(dir, "temps");
  const storage = new LocalStorage(root);
  const failing = new Readable({
    read() {
      this.destroy(new Error("source broke"));
    },
  });
  await assert.rejects(storage.put("k/obj", failing), /source broke/);
  assert.deepEqual(await readdir(join(root, "k")), []);
  await writeFile(join(root, "k", `${TEMP_PREFIX}crashed`), "partial");
  await mkdir(join(root, "k", "sub"));
  await storage.put("k/real", Buffer.from("r"));
  const keys: string[] = [];
  for await (const e of storage.list("k/")) keys.push(e.key);
  assert.deepEqual(keys, ["k/real"]);
});

test("a relative root is refused", () => {
  assert.throws(() => new LocalStorage("relative/path"), { code: "USAGE" });
});

test("rootExists: false for a missing folder (a put creates it), a StoreNotFoundError for a file", async () => {
  const storage = withRetry(withConcurrency(new LocalStorage(join(dir, "later")), 2));
  assert.equal(await storage.rootExists!(), false);
  await storage.put("k", Buffer.from("x"));
  assert.equal(await storage.rootExists!(), true);
  await writeFile(join(dir, "plain-file"), "x");
  await assert.rejects(new LocalStorage(join(dir, "plain-file")).rootExists(), { code: "STORE_NOT_FOUND" });
  await assert.rejects(new LocalStorage(join(dir, "y".repeat(5000))).rootExists(), { code: "REMOTE_URL" });
});

/** File descriptors this process has open. */
const openFds = () => readdirSync("/proc/self/fd").length;
/** Lets closes on the thread pool finish (a pack evicted as its last read ends is closed after it). */
const settled = () => new Promise((r) => setTimeout(r, 50));

test("packs read in ranges stay open, at most OPEN_PACKS when idle, and close closes every one", async () => {
  const storage = new LocalStorage(join(dir, "open-packs"));
  const packs = Array.from({ length: OPEN_PACKS * 3 }, (_, i) => ({ key: `packs/${String(i).padStart(64, "0")}.pack`, bytes: randomBytes(4096 + i) }));
  for (const p of packs) await storage.put(p.key, p.bytes);
  const before = openFds();
  for (let round = 0; round < 3; round++) {
    await Promise.all(
      packs.map(async (p, i) => {
        const start = (i * 7 + round) % 1000;
        assert.deepEqual(await storage.getBytes(p.key, { start, end: start + 100 }), p.bytes.subarray(start, start + 100));
      }),
    );
    await settled();
    assert.ok(openFds() <= before + OPEN_PACKS, `${openFds() - before} packs open after round ${round}`);
  }
  // A range past the end is clamped, as for any key.
  assert.equal((await storage.getBytes(packs[0]!.key, { start: 4000, end: 1e9 })).length, 96);
  assert.ok(openFds() > before, "packs are kept open between reads");
  await storage.close();
  assert.equal(openFds(), before);
  // A read after close opens the pack again.
  assert.deepEqual(await storage.getBytes(packs[1]!.key), packs[1]!.bytes);
  await storage.close();
  assert.equal(openFds(), before);
});

test("a pack kept open is closed after going unread, and one that is not a file is refused and not kept", async () => {
  const root = join(dir, "idle-packs");
  const storage = new LocalStorage(root, { idleCloseMs: 50 });
  const key = `packs/${"a".repeat(64)}.pack`;
  await storage.put(key, Buffer.from("pack bytes"));
  const before = openFds();
  assert.equal((await storage.getBytes(key, { start: 5 })).toString(), "bytes");
  assert.equal(openFds(), before + 1);
  for (let i = 0; i < 100 && openFds() > before; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(openFds(), before);

  const fifo = `packs/${"b".repeat(64)}.pack`;
  spawnSync("mkfifo", [join(root, fifo)]);
  await assert.rejects(storage.getBytes(fifo, { start: 0, end: 10 }), { code: "NOT_A_FILE" });
  await mkdir(join(root, `packs/${"c".repeat(64)}.pack`));
  await assert.rejects(storage.getBytes(`packs/${"c".repeat(64)}.pack`, { start: 0 }), { code: "NOT_FOUND" });
  const later = `packs/${"d".repeat(64)}.pack`;
  await assert.rejects(storage.getBytes(later, { start: 0 }), { code: "NOT_FOUND" });
  await storage.put(later, Buffer.from("now here"));
  assert.equal((await storage.getBytes(later, { start: 0 })).toString(), "now here");
  await storage.close();
  assert.equal(openFds(), before);
});

test("a pack replaced, rewritten or deleted since it was opened is read as it is now", async () => {
  const root = join(dir, "replaced-packs");
  const storage = new LocalStorage(root);
  const key = `packs/${"e".repeat(64)}.pack`;
  await storage.put(key, Buffer.from("first bytes"));
  assert.equal((await storage.getBytes(key, { start: 0, end: 5 })).toString(), "first");
  // Replaced by a rename (a new file at the key), then rewritten in place.
  await storage.put(key, Buffer.from("other bytes"));
  assert.equal((await storage.getBytes(key, { start: 0, end: 5 })).toString(), "other");
  await writeFile(join(root, key), "flipped bytes");
  assert.equal((await storage.getBytes(key, { start: 0, end: 7 })).toString(), "flipped");
  await rm(join(root, key));
  await assert.rejects(storage.getBytes(key, { start: 0, end: 5 }), { code: "NOT_FOUND" });
  await storage.close();
});
