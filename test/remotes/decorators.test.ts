import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { test } from "node:test";
import { UnreachableError, NotFoundError } from "../../src/remotes/errors.js";
import { MemoryStorage } from "../../src/remotes/memory/index.js";
import { withConcurrency } from "../../src/remotes/concurrency.js";
import { withRetry } from "../../src/remotes/retry.js";
import type { Storage } from "../../src/remotes/storage.js";

/** A storage whose calls fail with a retryable error the first `failures` times. */
function flaky(inner: Storage, failures: number): Storage & { calls: number } {
  let left = failures;
  const wrapper = {
    calls: 0,
    url: inner.url,
    async fail(): Promise<void> {
      wrapper.calls++;
      if (left-- > 0) throw new UnreachableError(inner.url, "flaky");
    },
    get: async (k: string) => (await wrapper.fail(), inner.get(k)),
    getBytes: async (k: string) => (await wrapper.fail(), inner.getBytes(k)),
    put: async (k: string, d: Buffer | Uint8Array | Readable) => (await wrapper.fail(), inner.put(k, d)),
    stat: async (k: string) => (await wrapper.fail(), inner.stat(k)),
    delete: async (k: string) => (await wrapper.fail(), inner.delete(k)),
    list: inner.list.bind(inner),
    close: () => inner.close(),
  };
  return wrapper;
}

test("withRetry retries retryable errors within its budget, and not others", async () => {
  const memory = new MemoryStorage("retry");
  await memory.put("k", Buffer.from("v"));
  const ok = flaky(memory, 2);
  assert.equal((await withRetry(ok, { attempts: 3, baseDelayMs: 1 }).getBytes("k")).toString(), "v");
  assert.equal(ok.calls, 3);
  const down = flaky(memory, 10);
  await assert.rejects(withRetry(down, { attempts: 3, baseDelayMs: 1 }).stat("k"), { code: "UNREACHABLE" });
  assert.equal(down.calls, 3);
  const missing = flaky(memory, 0);
  await assert.rejects(withRetry(missing, { attempts: 3, baseDelayMs: 1 }).getBytes("nope"), NotFoundError);
  assert.equal(missing.calls, 1);
  // a stream cannot be replayed: no retry
  const once = flaky(memory, 1);
  await assert.rejects(withRetry(once, { attempts: 3, baseDelayMs: 1 }).put("s", Readable.from([Buffer.from("x")])), { code: "UNREACHABLE" });
  assert.equal(once.calls, 1);
});

test("withRetry resumes a broken listing (of entries or of keys) after the last key it yielded", async () => {
  const memory = new MemoryStorage("list");
  for (const k of ["a", "b", "c", "d"]) await memory.put(k, Buffer.from(k));
  let broken = false;
  const breaking: Storage = {
    ...memory,
    url: memory.url,
    get: memory.get.bind(memory),
    getBytes: memory.getBytes.bind(memory),
    put: memory.put.bind(memory),
    stat: memory.stat.bind(memory),
    delete: memory.delete.bind(memory),
    close: memory.close.bind(memory),
    async *list(prefix, options) {
      for await (const entry of memory.list(prefix, options)) {
        if (entry.key === "c" && !broken) {
          broken = true;
          throw new UnreachableError(memory.url, "cut");
        }
        yield entry;
      }
    },
    async *listKeys(prefix, options) {
      for await (const entry of memory.list(prefix, options)) {
        if (entry.key === "b" && !brokenKeys) {
          brokenKeys = true;
          throw new UnreachableError(memory.url, "cut");
        }
        yield entry.key;
      }
    },
  };
  let brokenKeys = false;
  const keys: string[] = [];
  const retrying = withRetry(breaking, { attempts: 2, baseDelayMs: 1 });
  for await (const e of retrying.list("")) keys.push(e.key);
  assert.deepEqual(keys, ["a", "b", "c", "d"]);
  const alone: string[] = [];
  for await (const key of retrying.listKeys!("")) alone.push(key);
  assert.deepEqual(alone, ["a", "b", "c", "d"]);
  assert.ok(brokenKeys);
});

test("withConcurrency bounds calls in flight", async () => {
  const memory = new MemoryStorage("limit");
  let inFlight = 0;
  let peak = 0;
  const slow: Storage = {
    ...memory,
    url: memory.url,
    get: memory.get.bind(memory),
    getBytes: memory.getBytes.bind(memory),
    stat: memory.stat.bind(memory),
    delete: memory.delete.bind(memory),
    list: memory.list.bind(memory),
    close: memory.close.bind(memory),
    async put(key, data) {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setImmediate(r));
      await memory.put(key, data);
      inFlight--;
    },
  };
  const limited = withConcurrency(slow, 3);
  await Promise.all(Array.from({ length: 20 }, (_, i) => limited.put(`k${i}`, Buffer.from("x"))));
  assert.equal(peak, 3);
  assert.equal((await memory.stat("k19"))?.size, 1);
});
