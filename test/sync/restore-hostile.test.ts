import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { cpSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { encodeChunkList, encodeTree, hashBytes, loadPackIndex, PackWriter, type TreeEntry } from "../../src/objects/index.js";
import { openStorage } from "../../src/remotes/open.js";
import { encodeHead } from "../../src/sync/heads.js";
import { clone, pull, push } from "../../src/sync/index.js";
import { CORPUS_GENERATOR, tempDir } from "../helpers/fixtures.js";

const TINY_RUNS = fileURLToPath(new URL("../../bench/make-tiny-runs.mjs", import.meta.url));
import { listing } from "./story.js";

// A clone from a local folder reads its packs directly (the addon's threads where it is built):
// the same checks hold there as through the reader, and no pack stays open afterwards.

const tmp = tempDir("gage-restore-hostile-");
let corpus: string;
let remote: string;

before(async () => {
  corpus = join(tmp.path, "corpus");
  execFileSync(process.execPath, [CORPUS_GENERATOR, "--out", corpus, "--runs", "6", "--seed", "5", "--quiet"]);
  remote = join(tmp.path, "remote");
  await push({ runsDir: corpus, remote });
});
after(() => tmp.cleanup());

const openFds = () => readdirSync("/proc/self/fd").length;
const noState = (n: string) => n === ".gage-sync" || n.endsWith(".project");

/** A file of some run's folder (not meta: those are read while planning), and where its object is. */
async function someRunFile(store: string): Promise<{ id: string; pack: string; offset: number }> {
  const run = readdirSync(corpus).find((n) => n.endsWith(".meta"))!.slice(0, -".meta".length);
  const name = readdirSync(join(corpus, run)).find((n) => n.endsWith(".json") || n.endsWith(".txt") || n.endsWith(".csv"))!;
  const id = hashBytes(readFileSync(join(corpus, run, name)));
  const storage = await openStorage(store);
  try {
    const loc = (await loadPackIndex(storage)).get(id)!;
    return { id, pack: join(store, "packs", `${loc.packId}.pack`), offset: loc.offset };
  } finally {
    await storage.close();
  }
}

test("a clone leaves no pack open, and writes what was pushed", async () => {
  const dest = join(tmp.path, "clean");
  const before = openFds();
  await clone({ runsDir: dest, remote });
  assert.equal(openFds(), before);
  assert.deepEqual(listing(dest), listing(corpus, noState));
});

test("a clone from a folder whose pack holds a damaged file is refused naming the object: no run is left, no pack open", async () => {
  const damaged = join(tmp.path, "remote-damaged");
  cpSync(remote, damaged, { recursive: true });
  const { id, pack, offset } = await someRunFile(damaged);
  const bytes = readFileSync(pack);
  bytes[offset] = bytes[offset]! ^ 0xff;
  writeFileSync(pack, bytes);

  const dest = join(tmp.path, "from-damaged");
  const before = openFds();
  await assert.rejects(clone({ runsDir: dest, remote: damaged }), (err: Error & { code?: string }) => {
    assert.equal(err.code, "CORRUPT_OBJECT");
    assert.match(err.message, new RegExp(id));
    return true;
  });
  assert.equal(existsSync(dest), false, "the failed clone removed the folder it made");
  assert.equal(openFds(), before);
});

test("a clone from a folder whose pack ends inside an object is refused", async () => {
  const cut = join(tmp.path, "remote-cut");
  cpSync(remote, cut, { recursive: true });
  const { pack, offset } = await someRunFile(cut);
  writeFileSync(pack, readFileSync(pack).subarray(0, offset + 1));
  const dest = join(tmp.path, "from-cut");
  await assert.rejects(clone({ runsDir: dest, remote: cut }), { code: "CORRUPT_OBJECT" });
  assert.equal(existsSync(dest), false);
});

const file = (name: string, bytes: Buffer, size = bytes.length): TreeEntry => ({ name, kind: "file", mode: 0o644, size, id: hashBytes(bytes) });
const dir = (name: string, tree: Buffer): TreeEntry => ({ name, kind: "dir", mode: 0o755, size: 0, id: hashBytes(tree) });

/** A store of one run written by hand, as a hostile writer with access to the folder could. */
async function storeOf(name: string, runId: string, runTree: Buffer, metaTree: Buffer, objects: Buffer[]): Promise<string> {
  const store = join(tmp.path, name);
  const storage = await openStorage(store);
  const writer = new PackWriter(storage, { compress: false });
  for (const o of [...objects, runTree, metaTree]) await writer.add(hashBytes(o), o);
  await writer.flush();
  const entry = { runId, run: { tree: hashBytes(runTree), prior: [] }, meta: { tree: hashBytes(metaTree), prior: [] }, user: {}, summary: { operation: "x:y", status: "completed" } };
  const head = encodeHead([entry], Date.now());
  await storage.put(head.key, head.bytes);
  await storage.close();
  return store;
}

test("a run whose meta id file names another run is refused before anything is written", async () => {
  const runId = randomUUID();
  const other = Buffer.from(randomUUID());
  const proc = encodeTree({ entries: [file("exit", Buffer.from("0"))] });
  const metaTree = encodeTree({ entries: [file("id", other), dir("proc", proc)] });
  const data = Buffer.from("results");
  const store = await storeOf("remote-other-id", runId, encodeTree({ entries: [file("out.txt", data)] }), metaTree, [other, data, proc, Buffer.from("0")]);
  const dest = join(tmp.path, "from-other-id");
  await assert.rejects(clone({ runsDir: dest, remote: store }), (err: Error & { code?: string }) => {
    assert.equal(err.code, "FORMAT");
    assert.match(err.message, new RegExp(`Run ${runId} on the remote has meta whose id file says "${other.toString()}"`));
    return true;
  });
  assert.equal(existsSync(dest), false);
});

test("a tree declaring another size than its object holds is refused, and nothing of the run is left", async () => {
  const runId = randomUUID();
  const idFile = Buffer.from(runId);
  const data = Buffer.from("abc");
  const runTree = encodeTree({ entries: [file("out.txt", data, 5)] });
  const metaTree = encodeTree({ entries: [file("id", idFile)] });
  const store = await storeOf("remote-lying", runId, runTree, metaTree, [idFile, data]);

  const dest = join(tmp.path, "from-lying");
  await assert.rejects(clone({ runsDir: dest, remote: store }), (err: Error & { code?: string }) => {
    assert.equal(err.code, "CORRUPT_OBJECT");
    assert.match(err.message, /out\.txt says 5/);
    return true;
  });
  assert.equal(existsSync(dest), false);
});

test("a pull of more runs than one batch stops at a damaged object: every run it shows is whole, no staging folder is left", async () => {
  // Two batches of new runs (256 each): the second is staged while the first is published.
  const origin = join(tmp.path, "tiny");
  execFileSync(process.execPath, [TINY_RUNS, "--out", origin, "--runs", "300", "--seed", "3"]);
  const store = join(tmp.path, "remote-tiny");
  await push({ runsDir: origin, remote: store });
  const runs = readdirSync(origin).filter((n) => n.endsWith(".meta")).map((n) => n.slice(0, -".meta".length)).sort();
  const whole = join(tmp.path, "tiny-clone");
  await clone({ runsDir: whole, remote: store });
  assert.deepEqual(listing(whole), listing(origin, noState));

  // One run's metrics file damaged (each run's is its own).
  const victim = runs[runs.length - 1]!;
  const id = hashBytes(readFileSync(join(origin, victim, "results", "metrics.csv")));
  const storage = await openStorage(store);
  const loc = (await loadPackIndex(storage)).get(id)!;
  await storage.close();
  const pack = join(store, "packs", `${loc.packId}.pack`);
  const bytes = readFileSync(pack);
  bytes[loc.offset] = bytes[loc.offset]! ^ 0xff;
  writeFileSync(pack, bytes);

  const dest = join(tmp.path, "tiny-pull");
  await clone({ runsDir: dest, remote: store, runs: [runs[0]!] });
  await assert.rejects(pull({ runsDir: dest, remote: store }), { code: "CORRUPT_OBJECT" });
  assert.deepEqual(readdirSync(join(dest, ".gage-sync", "tmp")), [], "a staging folder was left");
  assert.equal(existsSync(join(dest, `${victim}.meta`)), false, "the damaged run became visible");
  const shown = readdirSync(dest).filter((n) => n.endsWith(".meta")).map((n) => n.slice(0, -".meta".length));
  for (const run of shown) {
    const only = (n: string) => n === run || n.startsWith(`${run}.`);
    assert.deepEqual(listing(dest, (n) => !only(n)), listing(origin, (n) => !only(n) || n.endsWith(".project")), run);
  }
});

/** A folder remote of two runs with 3 MiB checkpoints (stored in chunks), and their corpus. */
async function chunkedStore(name: string): Promise<{ origin: string; store: string }> {
  const origin = join(tmp.path, `${name}-runs`);
  execFileSync(process.execPath, [CORPUS_GENERATOR, "--out", origin, "--shape", "few-large", "--runs", "2", "--checkpoint-size", "3M", "--seed", "9", "--quiet"]);
  const store = join(tmp.path, name);
  await push({ runsDir: origin, remote: store });
  return { origin, store };
}

test("a clone writes files stored in chunks whole, with their times, and its first push reads none of them", async () => {
  const { origin, store } = await chunkedStore("remote-chunked");
  const dest = join(tmp.path, "chunked-clone");
  const before = openFds();
  await clone({ runsDir: dest, remote: store });
  assert.equal(openFds(), before);
  assert.deepEqual(listing(dest), listing(origin, noState));
  const run = readdirSync(origin).find((n) => n.endsWith(".meta"))!.slice(0, -".meta".length);
  const ckpt = readdirSync(join(origin, run)).find((n) => n.endsWith(".ckpt"))!;
  assert.ok(statSync(join(dest, run, ckpt)).size >= 3 * 2 ** 20);
  assert.equal(statSync(join(dest, run, ckpt)).mtimeMs, statSync(join(origin, run, ckpt)).mtimeMs);
  const again = await push({ runsDir: dest, remote: store });
  assert.equal(again.runs.length, 0);
});

test("a clone from a folder whose pack holds a damaged chunk is refused naming the chunk: no run, no half file is left", async () => {
  const { origin, store } = await chunkedStore("remote-chunk-damaged");
  const run = readdirSync(origin).find((n) => n.endsWith(".meta"))!.slice(0, -".meta".length);
  const ckpt = readFileSync(join(origin, run, readdirSync(join(origin, run)).find((n) => n.endsWith(".ckpt"))!));
  const storage = await openStorage(store);
  const index = await loadPackIndex(storage);
  await storage.close();
  // The checkpoint's third chunk: a chunk is named by its bytes, found where the checkpoint's bytes are.
  const chunkId = [...index.ids()].find((id) => {
    const loc = index.get(id)!;
    if (loc.rawLength < 16 * 1024 || loc.rawLength === ckpt.length) return false;
    const pack = readFileSync(join(store, "packs", `${loc.packId}.pack`)).subarray(loc.offset, loc.offset + loc.storedLength);
    const at = ckpt.indexOf(pack.subarray(0, 64));
    return at > 2 * 64 * 1024;
  })!;
  assert.ok(chunkId, "a chunk of the checkpoint");
  const loc = index.get(chunkId)!;
  const pack = join(store, "packs", `${loc.packId}.pack`);
  const bytes = readFileSync(pack);
  bytes[loc.offset + 100] = bytes[loc.offset + 100]! ^ 0xff;
  writeFileSync(pack, bytes);

  const dest = join(tmp.path, "from-chunk-damaged");
  await assert.rejects(clone({ runsDir: dest, remote: store }), (err: Error & { code?: string }) => {
    assert.equal(err.code, "CORRUPT_OBJECT");
    assert.match(err.message, new RegExp(chunkId));
    return true;
  });
  assert.equal(existsSync(dest), false, "the failed clone removed the folder it made");
});

test("a file whose chunk list holds other bytes than its id names is refused, and nothing of it is left", async () => {
  const runId = randomUUID();
  const idFile = Buffer.from(runId);
  const a = randomBytes(20_000);
  const b = randomBytes(20_000);
  const claimed = randomBytes(40_000);
  const list = encodeChunkList({ size: 40_000, chunks: [{ id: hashBytes(a), size: a.length }, { id: hashBytes(b), size: b.length }] });
  const entry: TreeEntry = { ...file("model.bin", claimed), chunks: hashBytes(list) };
  const runTree = encodeTree({ entries: [entry] });
  const metaTree = encodeTree({ entries: [file("id", idFile)] });
  const store = await storeOf("remote-chunks-elsewhere", runId, runTree, metaTree, [idFile, a, b, list]);
  const dest = join(tmp.path, "from-chunks-elsewhere");
  await assert.rejects(clone({ runsDir: dest, remote: store }), (err: Error & { code?: string }) => {
    assert.equal(err.code, "CORRUPT_OBJECT");
    assert.match(err.message, new RegExp(hashBytes(claimed)));
    return true;
  });
  assert.equal(existsSync(dest), false);
});

test("a pull of one run whose checkpoint shares chunks with an older push writes it whole (chunks outside the hinted packs)", async () => {
  const { origin, store } = await chunkedStore("remote-shared-chunks");
  const base = readdirSync(origin).find((n) => n.endsWith(".meta"))!.slice(0, -".meta".length);
  // A new run whose checkpoint is the old one with its last bytes changed: most chunks are the old push's.
  const runId = randomUUID();
  cpSync(join(origin, base), join(origin, runId), { recursive: true });
  cpSync(join(origin, `${base}.meta`), join(origin, `${runId}.meta`), { recursive: true });
  execFileSync("chmod", ["-R", "u+w", join(origin, `${runId}.meta`)]);
  writeFileSync(join(origin, `${runId}.meta`, "id"), runId);
  const ckpt = readdirSync(join(origin, runId)).find((n) => n.endsWith(".ckpt"))!;
  const bytes = readFileSync(join(origin, runId, ckpt));
  bytes.fill(7, bytes.length - 1000);
  execFileSync("chmod", ["u+w", join(origin, runId, ckpt)]);
  writeFileSync(join(origin, runId, ckpt), bytes);
  await push({ runsDir: origin, remote: store });

  const dest = join(tmp.path, "shared-chunks-pull");
  await pull({ runsDir: dest, remote: store, runs: [runId] });
  assert.deepEqual(readFileSync(join(dest, runId, ckpt)), bytes);
});
