import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, test } from "node:test";
import { LocalStorage } from "../../src/remotes/local/index.js";
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
