/**
 * The one conformance suite every storage backend runs unchanged (restic `backend/test`,
 * rclone `fstests`). A backend's test file calls `storageConformance(type, setup)`;
 * test/remotes/registry.test.ts checks that every registered backend does.
 *
 * Faults that a backend cannot have (a local folder has no credentials) are declared with the
 * reason instead of a function, so nothing is skipped silently.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { GageError } from "../../src/errors.js";
import type { Storage } from "../../src/remotes/storage.js";
import { compareKeys } from "../../src/remotes/keys.js";

export type NotApplicable = { notApplicable: string };
export type Fault = (() => Promise<void>) | NotApplicable;

export interface ConformanceSetup {
  /** The storage under test, opened as `openStorage` opens it (decorators included). */
  storage: Storage;
  /** Bytes of the large round trip: at least 200 MiB, except for the in-memory backend. */
  largeSize: number;
  /** Whether the memory bound can be asserted (false only where objects live in memory). */
  boundedMemory: boolean;
  /** s3rver orders some listings in folder-walk order (docs/design.md §8); real S3 never does. */
  listOrderFaithful: boolean;
  /** Must fail with `AuthError` (opening or the first call with wrong credentials). */
  wrongCredentials: Fault;
  /** Must fail with `HostKeyError` (problem "unknown"). */
  unknownHostKey: Fault;
  /** Puts a FIFO where `key`'s object belongs: reading it must fail with `NotRegularFileError`, never hang. */
  fifoAt: ((key: string) => Promise<void>) | NotApplicable;
  /** Stops the server; later calls and open streams must fail with `UnreachableError`. */
  stopServer: (() => Promise<void>) | NotApplicable;
  teardown(): Promise<void>;
}

const MiB = 1024 * 1024;

/** Deterministic, incompressible-enough bytes: one random MiB with each chunk's index stamped in. */
function generated(size: number): { stream: () => Readable; sha256: string } {
  const block = Buffer.alloc(MiB);
  for (let i = 0; i < MiB; i += 32) createHash("sha256").update(String(i)).digest().copy(block, i);
  function* chunks(): Generator<Buffer> {
    for (let offset = 0, index = 0; offset < size; offset += MiB, index++) {
      const chunk = Buffer.from(block.subarray(0, Math.min(MiB, size - offset)));
      chunk.writeUInt32BE(index, 0);
      yield chunk;
    }
  }
  const hash = createHash("sha256");
  for (const chunk of chunks()) hash.update(chunk);
  return { stream: () => Readable.from(chunks()), sha256: hash.digest("hex") };
}

async function sha256Of(stream: Readable): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), size };
}

/** The keys `list` gives; a backend that offers `listKeys` must give the same ones. */
async function keysOf(storage: Storage, prefix: string, startAfter?: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const entry of storage.list(prefix, { startAfter })) keys.push(entry.key);
  if (storage.listKeys !== undefined) {
    const alone: string[] = [];
    for await (const key of storage.listKeys(prefix, startAfter === undefined ? {} : { startAfter })) alone.push(key);
    assert.deepEqual(alone, keys, "listKeys gives the keys list gives");
  }
  return keys;
}

function assertCode(code: string) {
  return (err: unknown) => {
    assert.ok(err instanceof GageError, `expected a GageError with code ${code}, got ${String(err)}`);
    assert.equal(err.code, code, `expected code ${code}, got ${err.code}: ${err.message}`);
    return true;
  };
}

async function runFault(fault: Fault, code: string): Promise<void> {
  if ("notApplicable" in fault) {
    assert.ok(fault.notApplicable.length > 0, "a fault that does not apply must say why");
    return;
  }
  await assert.rejects(fault(), assertCode(code));
}

export function storageConformance(type: string, setup: () => Promise<ConformanceSetup>): void {
  describe(`Storage conformance: ${type}`, () => {
    let s: ConformanceSetup;
    let storage: Storage;
    before(async () => {
      s = await setup();
      storage = s.storage;
    });
    after(async () => {
      await s?.teardown();
    });

    test("empty object round trip", async () => {
      await storage.put("t/empty", Buffer.alloc(0));
      assert.deepEqual(await storage.getBytes("t/empty"), Buffer.alloc(0));
      assert.equal((await sha256Of(await storage.get("t/empty"))).size, 0);
      assert.equal((await storage.stat("t/empty"))?.size, 0);
      assert.deepEqual(
        await (async () => {
          const out = [];
          for await (const e of storage.list("t/empty")) out.push(e);
          return out;
        })(),
        [{ key: "t/empty", size: 0 }],
      );
    });

    test("small round trips from a Buffer, a Uint8Array and a stream", async () => {
      const text = Buffer.from("hello, storage\n");
      await storage.put("t/small/buffer", text);
      await storage.put("t/small/u8", new Uint8Array([1, 2, 3]));
      await storage.put("t/small/stream", Readable.from([Buffer.from("ab"), Buffer.from("cd")]));
      assert.deepEqual(await storage.getBytes("t/small/buffer"), text);
      assert.deepEqual(await storage.getBytes("t/small/u8"), Buffer.from([1, 2, 3]));
      assert.equal((await storage.getBytes("t/small/stream")).toString(), "abcd");
      const stat = await storage.stat("t/small/buffer");
      assert.equal(stat?.size, text.length);
    });

    test("large object round trip, streamed with bounded memory", { timeout: 180_000 }, async () => {
      const data = generated(s.largeSize + 12_345);
      const rssBefore = process.memoryUsage().rss;
      let rssPeak = rssBefore;
      const sample = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 20);
      try {
        await storage.put("t/large", data.stream());
        assert.equal((await storage.stat("t/large"))?.size, s.largeSize + 12_345);
        const back = await sha256Of(await storage.get("t/large"));
        assert.equal(back.size, s.largeSize + 12_345);
        assert.equal(back.sha256, data.sha256);
        const tail = await storage.getBytes("t/large", { start: s.largeSize, end: s.largeSize + 10 });
        assert.equal(tail.length, 10);
      } finally {
        clearInterval(sample);
      }
      if (s.boundedMemory) {
        // Below three quarters of the object: one whole copy of it would not fit, while garbage the
        // collector has not reached yet (its timing moves with load) does.
        const growth = rssPeak - rssBefore;
        assert.ok(growth < 0.75 * s.largeSize, `rss grew by ${Math.round(growth / MiB)} MiB for a ${s.largeSize / MiB} MiB object`);
      }
      await storage.delete("t/large");
    });

    test("ranged reads, clamped to the object", async () => {
      const bytes = Buffer.from("0123456789");
      await storage.put("t/range", bytes);
      assert.equal((await storage.getBytes("t/range", { start: 0, end: 1 })).toString(), "0");
      assert.equal((await storage.getBytes("t/range", { start: 3, end: 7 })).toString(), "3456");
      assert.equal((await storage.getBytes("t/range", { start: 7 })).toString(), "789");
      assert.equal((await storage.getBytes("t/range", { start: 8, end: 100 })).toString(), "89");
      assert.equal((await storage.getBytes("t/range", { start: 4, end: 4 })).length, 0);
      assert.equal((await storage.getBytes("t/range", { start: 10 })).length, 0);
      assert.equal((await storage.getBytes("t/range", { start: 50, end: 60 })).length, 0);
      assert.equal((await sha256Of(await storage.get("t/range", { start: 2, end: 5 }))).size, 3);
      await assert.rejects(storage.getBytes("t/range", { start: 5, end: 2 }), assertCode("USAGE"));
      await assert.rejects(storage.getBytes("t/no-such", { start: 0, end: 0 }), assertCode("NOT_FOUND"));
    });

    test("unicode keys", async () => {
      const keys = ["t/uni/日本語/ファイル.bin", "t/uni/ünï cødé.txt", "t/uni/emoji 🎉", "t/uni/\uE000 private"];
      for (const [i, key] of keys.entries()) await storage.put(key, Buffer.from(`v${i}`));
      for (const [i, key] of keys.entries()) assert.equal((await storage.getBytes(key)).toString(), `v${i}`);
      assert.deepEqual(await keysOf(storage, "t/uni/"), [...keys].sort(compareKeys));
      assert.equal((await storage.stat("t/uni/emoji 🎉"))?.size, 2);
    });

    test("keys outside the contract are refused", async () => {
      for (const key of ["", "/abs", "a//b", "a/./b", "a/../b", "..", "a/"]) {
        await assert.rejects(storage.put(key, Buffer.from("x")), assertCode("USAGE"), `put '${key}'`);
        await assert.rejects(storage.getBytes(key), assertCode("USAGE"), `get '${key}'`);
      }
    });

    test("listing past 1,000 keys, in order, with startAfter and a partial prefix", { timeout: 120_000 }, async () => {
      const count = 1_100;
      const keys = Array.from({ length: count }, (_, i) => `t/many/${i.toString(16).padStart(8, "0")}`);
      await Promise.all(keys.map((key, i) => storage.put(key, Buffer.from(String(i)))));
      const listed: { key: string; size: number }[] = [];
      for await (const entry of storage.list("t/many/")) listed.push(entry);
      assert.equal(listed.length, count);
      assert.deepEqual(listed.map((e) => e.key), keys);
      assert.deepEqual(listed.slice(0, 11).map((e) => e.size), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]);
      assert.deepEqual(await keysOf(storage, "t/many/", keys[1_049]), keys.slice(1_050));
      assert.deepEqual(await keysOf(storage, "t/many/0000000"), keys.slice(0, 16));
      assert.deepEqual(await keysOf(storage, "t/many/nothing"), []);
      assert.deepEqual(await keysOf(storage, "t/none/"), []);
    });

    test("listing order: byte order of whole keys, across folders", async () => {
      const keys = ["t/ord/x", "t/ord/x.y", "t/ord/x/z", "t/ord/x0", "t/ord/xa/b", "t/ord/X"];
      for (const key of keys.filter((k) => k !== "t/ord/x")) await storage.put(key, Buffer.from("o"));
      const expected = keys.filter((k) => k !== "t/ord/x").sort(compareKeys);
      const listed = await keysOf(storage, "t/ord/");
      if (s.listOrderFaithful) assert.deepEqual(listed, expected);
      else assert.deepEqual([...listed].sort(compareKeys), expected);
      assert.deepEqual(await keysOf(storage, "t/ord/x", "t/ord/x.y"), expected.filter((k) => compareKeys(k, "t/ord/x.y") > 0 && k.startsWith("t/ord/x")));
    });

    test("overwrite and delete", async () => {
      await storage.put("t/ow", Buffer.from("first version"));
      await storage.put("t/ow", Buffer.from("second"));
      assert.equal((await storage.getBytes("t/ow")).toString(), "second");
      assert.equal((await storage.stat("t/ow"))?.size, 6);
      await storage.delete("t/ow");
      assert.equal(await storage.stat("t/ow"), undefined);
      await assert.rejects(storage.getBytes("t/ow"), assertCode("NOT_FOUND"));
      await storage.delete("t/ow");
      assert.deepEqual(await keysOf(storage, "t/ow"), []);
    });

    test("missing keys: NotFoundError from get, undefined from stat", async () => {
      await assert.rejects(storage.get("t/missing/key"), assertCode("NOT_FOUND"));
      await assert.rejects(storage.getBytes("t/missing"), (err: unknown) => {
        assertCode("NOT_FOUND")(err);
        assert.equal((err as { url?: string }).url, storage.url);
        return true;
      });
      assert.equal(await storage.stat("t/missing"), undefined);
    });

    test("concurrent readers during a put see the old or the new object, never a part", { timeout: 120_000 }, async () => {
      const size = 4 * MiB;
      const before = Buffer.alloc(size, "a");
      const after = Buffer.alloc(size, "b");
      await storage.put("t/atomic", before);
      async function* slowly(): AsyncGenerator<Buffer> {
        for (let offset = 0; offset < size; offset += 64 * 1024) {
          await yieldToLoop();
          yield after.subarray(offset, offset + 64 * 1024);
        }
      }
      let done = false;
      const put = storage.put("t/atomic", Readable.from(slowly())).finally(() => (done = true));
      let reads = 0;
      async function reader(): Promise<void> {
        while (!done) {
          const got = await storage.getBytes("t/atomic");
          reads++;
          assert.ok(got.equals(before) || got.equals(after), `a reader saw ${got.length} bytes of partial or mixed data`);
          // an in-memory get never waits for I/O: let the put make progress
          await yieldToLoop();
        }
      }
      await Promise.all([put, reader(), reader()]);
      assert.ok(reads > 0);
      assert.ok((await storage.getBytes("t/atomic")).equals(after));
    });

    test("wrong credentials fail with AuthError", async () => {
      await runFault(s.wrongCredentials, "AUTH");
    });

    test("an unknown host key fails with HostKeyError", async () => {
      await runFault(s.unknownHostKey, "HOST_KEY");
    });

    test("a FIFO in place of an object is refused, not opened for a blocking read", { timeout: 20_000 }, async () => {
      const fifo = s.fifoAt;
      if ("notApplicable" in fifo) {
        assert.ok(fifo.notApplicable.length > 0, "a fault that does not apply must say why");
        return;
      }
      await fifo("t/fifo");
      await assert.rejects(storage.getBytes("t/fifo"), assertCode("NOT_A_FILE"));
      await assert.rejects(storage.get("t/fifo", { start: 0, end: 16 }), assertCode("NOT_A_FILE"));
      // The refusal is remembered for nothing: a real object put there later reads.
      await storage.delete("t/fifo");
      await storage.put("t/fifo", Buffer.from("now a file"));
      assert.equal((await storage.getBytes("t/fifo")).toString(), "now a file");
    });

    // last: it stops the server
    test("a server stopped mid-transfer fails with UnreachableError, without hanging", { timeout: 60_000 }, async () => {
      const stop = s.stopServer;
      if ("notApplicable" in stop) {
        assert.ok(stop.notApplicable.length > 0);
        return;
      }
      const size = 64 * MiB;
      await storage.put("t/stop", generated(size).stream());
      const stream = await storage.get("t/stop");
      const chunks = stream[Symbol.asyncIterator]();
      assert.equal((await chunks.next()).done, false);
      // the rest of the object cannot all be buffered yet: backpressure holds it on the server
      await stop();
      await assert.rejects(
        (async () => {
          while (!(await chunks.next()).done);
        })(),
        assertCode("UNREACHABLE"),
      );
      await assert.rejects(storage.stat("t/stop"), assertCode("UNREACHABLE"));
      await assert.rejects(storage.put("t/after-stop", Buffer.from("x")), assertCode("UNREACHABLE"));
    });
  });
}
