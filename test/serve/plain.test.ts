import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { readRun } from "../../src/runs/run.js";
import { readUserLog } from "../../src/runs/user-log.js";
import { openSource, startServer, type RunningServer } from "../../src/serve/server.js";
import type { RunSource } from "../../src/serve/source.js";
import { copyRuns } from "../../src/sync/copy/index.js";
import { tempDir } from "../helpers/fixtures.js";
import { startS3rver, type S3rverHandle } from "../helpers/s3rver.js";
import { json, PNG, rawRequest, sampleRows, sampleRuns, webAssets } from "../helpers/serve.js";

// A runs directory in the plain layout on S3 (what `gage copy --to s3://...` writes), served as is.
const tmp = tempDir("gage-serve-plain-");
const runsDir = join(tmp.path, "runs");
let ids: Awaited<ReturnType<typeof sampleRuns>>;
let s3: S3rverHandle;
let source: RunSource;
let server: RunningServer;

before(async () => {
  mkdirSync(runsDir);
  ids = await sampleRuns(runsDir);
  s3 = await startS3rver();
  await copyRuns({ runsDir, direction: "to", target: s3.url("plain"), all: true, storageOptions: { env: s3.env } });
  source = await openSource(s3.url("plain"), { runsDir: "/nonexistent", cwd: "/", env: s3.env });
  server = await startServer({ source, port: 0, author: "viewer", assetsDir: webAssets() });
});
after(async () => {
  await server?.close();
  await source?.close();
  await s3?.stop();
  tmp.cleanup();
});

const get = (target: string, headers: Record<string, string> = {}) => rawRequest(server.port, "GET", target, { headers });

test("a plain-layout runs directory on S3 is listed, read and commented on", async () => {
  assert.equal(source.kind, "runs-dir");
  const list = json(await get("/api/runs"));
  assert.deepEqual(list.runs.map((r: any) => [r.id, r.status, r.label]), sampleRows(ids));
  const run = json(await get(`/api/runs/${ids.a}`));
  assert.deepEqual(run.flags, { lr: 0.1, epochs: 10 });
  assert.equal(run.exitCode, 0);
  assert.deepEqual(run.files.map((f: any) => f.path), ["metrics.csv", "nested/deep/notes.txt", "plots/loss.png", "train.py"]);
  assert.deepEqual((await get(`/api/runs/${ids.a}/files/plots/loss.png`)).body, PNG);
  assert.equal((await get(`/api/runs/${ids.a}/files/metrics.csv`, { Range: "bytes=5-8" })).body.toString(), "loss");
  assert.equal((await get(`/api/runs/${ids.a}/files/../${ids.b}/train.py`)).status, 404);
  assert.equal(json(await get(`/api/runs/${ids.a}/output?limit=20`)).text, "epoch 1 loss 0.9\n");

  const csrf = json(await get("/api/session")).csrf;
  const res = await rawRequest(server.port, "POST", `/api/runs/${ids.c}/comments`, {
    headers: { "Content-Type": "application/json", Origin: `http://127.0.0.1:${server.port}`, "X-CSRF-Token": csrf },
    body: JSON.stringify({ msg: "data was stale" }),
  });
  assert.equal(res.status, 201);
  assert.deepEqual(json(await get(`/api/runs/${ids.c}`)).comments.map((c: any) => [c.author, c.msg]), [["viewer", "data was stale"]]);
  // Copied back, the comment is an ordinary user log entry.
  const back = join(tmp.path, "back");
  await copyRuns({ runsDir: back, direction: "from", target: s3.url("plain"), all: true, storageOptions: { env: s3.env } });
  const log = await readUserLog(join(back, `${ids.c}.user`));
  assert.equal(log.length, 1);
  assert.equal(log[0]!.entry.author, "viewer");
  assert.equal((await readRun(back, ids.b)).label, "smaller lr");
});
