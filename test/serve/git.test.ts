// `gage serve` over a Git remote: the runs of a real bare repository's branch, read-only.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, readdirSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { findRemote, type GitRemoteSpec } from "../../src/remotes/config.js";
import { GitObjectStore, hashObject } from "../../src/remotes/git/objects.js";
import { GitSource } from "../../src/serve/git-source.js";
import { openSource, startServer } from "../../src/serve/server.js";
import { push } from "../../src/sync/index.js";
import { tempDir } from "../helpers/fixtures.js";
import { git, initBare } from "../helpers/git-http.js";
import { json, PNG, rawRequest, sampleRows, sampleRuns, webAssets, writeRun } from "../helpers/serve.js";

const BIG = randomBytes(300_000);
const BIG_RUN = "55555555-eeee-4eee-8eee-eeeeeeeeeeee";
const tmp = tempDir("gage-serve-git-");
const runsDir = join(tmp.path, "runs");
const viewer = join(tmp.path, "viewer");
let bare: string;
let ids: Awaited<ReturnType<typeof sampleRuns>>;
let clock = 1_780_000_000_000;
let port: number;
let close: () => Promise<void>;
const get = (target: string, headers: Record<string, string> = {}) => rawRequest(port, "GET", target, { headers });

before(async () => {
  mkdirSync(runsDir);
  mkdirSync(viewer);
  ids = await sampleRuns(runsDir);
  await writeRun(runsDir, { id: BIG_RUN, exit: 0, started: 1_759_000_000, files: { "model.bin": BIG } });
  bare = await initBare(join(tmp.path, "team.git"));
  await push({ runsDir, remote: bare });
  const source = await GitSource.open((await findRemote(bare)) as GitRemoteSpec, { runsDir: viewer, now: () => clock });
  const server = await startServer({ source, port: 0, author: "viewer", assetsDir: webAssets(), now: () => clock });
  port = server.port;
  close = async () => {
    await server.close();
    await source.close();
  };
});
after(async () => {
  await close?.();
  tmp.cleanup();
});

test("a bare repository named as the source is served as a Git remote, not as a folder", async () => {
  const source = await openSource(bare, { runsDir: viewer, cwd: tmp.path });
  try {
    assert.equal(source.kind, "git");
    assert.equal((await source.listRuns()).length, 5);
  } finally {
    await source.close();
  }
});

test("the branch's runs, their flags, files and output, as from a runs directory", async () => {
  const res = json(await get("/api/runs"));
  assert.equal(res.total, 5);
  assert.deepEqual(res.runs.slice(0, 4).map((r: any) => [r.id, r.status, r.label]), sampleRows(ids));
  const run = json(await get(`/api/runs/${ids.a}`));
  assert.deepEqual(run.flags, { lr: 0.1, epochs: 10 });
  assert.deepEqual(run.attributes, { loss: 0.42 });
  assert.deepEqual(run.files.map((f: any) => [f.path, f.size]), [
    ["metrics.csv", 23],
    ["nested/deep/notes.txt", 5],
    ["plots/loss.png", PNG.length],
    ["train.py", 15],
  ]);
  assert.equal(json(await get(`/api/runs/${ids.a}/output?limit=20`)).text, "epoch 1 loss 0.9\n");
  assert.deepEqual((await get(`/api/runs/${ids.a}/files/plots/loss.png`)).body, PNG);
  assert.equal((await get(`/api/runs/${ids.a}/files/%2e%2e/x`)).status, 404);
  assert.equal((await get(`/api/runs/${ids.a}/files/plots`)).status, 404);
  const part = await get(`/api/runs/${BIG_RUN}/files/model.bin`, { Range: "bytes=1000-1999" });
  assert.equal(part.status, 206);
  assert.ok(part.body.equals(BIG.subarray(1000, 2000)));
});

test("comments and labels are refused: the branch changes only by commits", async () => {
  const session = json(await get("/api/session"));
  assert.equal(session.access, "read");
  assert.equal(session.source.kind, "git");
  const head = (await git(["rev-parse", "gage-runs"], { cwd: bare })).trim();
  const res = await rawRequest(port, "POST", `/api/runs/${ids.a}/comments`, {
    headers: { "Content-Type": "application/json", Origin: `http://127.0.0.1:${port}`, "X-CSRF-Token": session.csrf },
    body: JSON.stringify({ msg: "nice" }),
  });
  assert.equal(res.status, 403);
  assert.match(json(res).error, /read-only/);
  assert.equal((await git(["rev-parse", "gage-runs"], { cwd: bare })).trim(), head);
  assert.deepEqual(readdirSync(viewer).filter((n) => n !== ".gage-sync"), [], "nothing written in the viewer's runs directory");
});

test("a new push shows up without a restart", async () => {
  const id = "66666666-ffff-4fff-8fff-ffffffffffff";
  await writeRun(runsDir, { id, exit: 0, started: 1_770_500_000, label: "fresh", files: { "a.txt": "new" } });
  await push({ runsDir, remote: bare });
  assert.equal(json(await get("/api/runs?where=fresh")).total, 0, "not fetched again yet");
  clock += 6000;
  assert.deepEqual(json(await get("/api/runs?where=fresh")).runs.map((r: any) => r.id), [id]);
});

test("a large file's size is listed from its pack entry's header; reading it still checks its bytes", async () => {
  const source = await GitSource.open((await findRemote(bare)) as GitRemoteSpec, { runsDir: viewer, now: () => clock });
  try {
    const run = (await source.listRuns()).find((r) => r.id === BIG_RUN)!;
    // Damage the blob's compressed bytes in the repository's pack (the last test here): only a read of the file can notice.
    const entry = new GitObjectStore(bare).blobEntry(hashObject("blob", BIG));
    assert.ok(entry !== undefined, "the blob is packed whole");
    const fd = openSync(entry.span.pack, "r+");
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, entry.span.end - 100);
    byte[0]! ^= 0xff;
    writeSync(fd, byte, 0, 1, entry.span.end - 100);
    closeSync(fd);
    assert.deepEqual((await source.listFiles(run, "files", 10)).files, [{ path: "model.bin", size: BIG.length }]);
    await assert.rejects(async () => {
      const read = await source.readFile(run, "files", ["model.bin"]);
      for await (const _ of read!.body) void _;
    }, /model\.bin|corrupt|damaged|does not match/i);
  } finally {
    await source.close();
  }
});
