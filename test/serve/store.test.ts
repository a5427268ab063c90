import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { openStorage } from "../../src/remotes/open.js";
import type { Storage } from "../../src/remotes/storage.js";
import { readRun } from "../../src/runs/run.js";
import { readUserLog } from "../../src/runs/user-log.js";
import { openSource, startServer } from "../../src/serve/server.js";
import { StoreSource } from "../../src/serve/store-source.js";
import { clone, pull, push } from "../../src/sync/index.js";
import { tempDir } from "../helpers/fixtures.js";
import { startS3rver, type S3rverHandle } from "../helpers/s3rver.js";
import { startSshd, type SshdHandle } from "../helpers/sshd.js";
import { json, PNG, rawRequest, sampleRows, sampleRuns, webAssets, writeRun } from "../helpers/serve.js";

/** Bytes large enough to be stored in content-defined chunks (several objects). */
const BIG = randomBytes(5 * 1024 * 1024 + 123);

/**
 * The web view over a store remote: the run list from its heads, run pages and file bytes from
 * its objects (ranged), comments written back as a head that a pull merges, new pushes seen.
 */
function storeSuite(name: string, setup: () => Promise<{ url: string; open: () => Promise<Storage>; env: NodeJS.ProcessEnv; done: () => Promise<void> }>) {
  describe(`serve over a ${name} store`, () => {
    const tmp = tempDir(`gage-serve-${name}-`);
    const runsDir = join(tmp.path, "runs");
    let ids: Awaited<ReturnType<typeof sampleRuns>>;
    let clock = 1_780_000_000_000;
    let source: StoreSource;
    let storage: Storage;
    let port: number;
    let ctx: Awaited<ReturnType<typeof setup>>;
    let close: () => Promise<void>;
    const get = (target: string, headers: Record<string, string> = {}) => rawRequest(port, "GET", target, { headers });

    before(async () => {
      ctx = await setup();
      mkdirSync(runsDir);
      ids = await sampleRuns(runsDir);
      await writeRun(runsDir, { id: "55555555-eeee-4eee-8eee-eeeeeeeeeeee", exit: 0, started: 1_759_000_000, files: { "model.bin": BIG }, output: "x".repeat(10) });
      const s = await ctx.open();
      await push({ runsDir, remote: s });
      await s.close();
      storage = await ctx.open();
      source = new StoreSource(storage, { now: () => clock });
      const server = await startServer({ source, port: 0, author: "viewer", assetsDir: webAssets(), now: () => clock });
      port = server.port;
      close = async () => {
        await server.close();
        await source.close();
        await storage.close();
      };
    });
    after(async () => {
      await close?.();
      await ctx?.done();
      tmp.cleanup();
    });

    test("lists the remote's runs as gage ls --remote does", async () => {
      const res = json(await get("/api/runs"));
      assert.equal(res.total, 5);
      assert.deepEqual(res.runs.slice(0, 4).map((r: any) => [r.id, r.status, r.label]), sampleRows(ids));
      assert.deepEqual(json(await get("/api/runs?where=label~lr")).runs.map((r: any) => r.id), [ids.b]);
      assert.deepEqual(json(await get("/api/runs?sort=flag:lr&limit=2")).runs.map((r: any) => r.id), [ids.b, ids.a]);
    });

    test("a run page reads flags, times, files and output from the objects", async () => {
      const run = json(await get(`/api/runs/${ids.a}`));
      assert.deepEqual(run.flags, { lr: 0.1, epochs: 10 });
      assert.deepEqual(run.attributes, { loss: 0.42 });
      assert.equal(run.exitCode, 0);
      assert.equal(run.duration, 12.5);
      assert.deepEqual(run.files.map((f: any) => [f.path, f.size]), [
        ["metrics.csv", 23],
        ["nested/deep/notes.txt", 5],
        ["plots/loss.png", PNG.length],
        ["train.py", 15],
      ]);
      assert.deepEqual(run.meta.command, ["python", "-um", "train"]);
      assert.equal(json(await get(`/api/runs/${ids.a}/output?limit=20`)).text, "epoch 1 loss 0.9\n");
      assert.deepEqual((await get(`/api/runs/${ids.a}/files/plots/loss.png`)).body, PNG);
      assert.equal((await get(`/api/runs/${ids.a}/files/../${ids.b}/train.py`)).status, 404);
      assert.equal((await get(`/api/runs/${ids.a}/files/%2e%2e/x`)).status, 404);
      assert.equal((await get(`/api/runs/${ids.a}/files/plots`)).status, 404);
    });

    test("a large file is read in ranges, each from the chunks that hold it", async () => {
      const id = "55555555-eeee-4eee-8eee-eeeeeeeeeeee";
      const whole = await get(`/api/runs/${id}/files/model.bin`);
      assert.equal(whole.body.length, BIG.length);
      assert.ok(whole.body.equals(BIG));
      const from = 3 * 1024 * 1024 - 7;
      const part = await get(`/api/runs/${id}/files/model.bin`, { Range: `bytes=${from}-${from + 2 * 1024 * 1024}` });
      assert.equal(part.status, 206);
      assert.ok(part.body.equals(BIG.subarray(from, from + 2 * 1024 * 1024 + 1)));
      assert.equal(part.headers["content-range"], `bytes ${from}-${from + 2 * 1024 * 1024}/${BIG.length}`);
    });

    test("a comment and a label go into the remote and reach a pull", async () => {
      const session = json(await get("/api/session"));
      const post = (target: string, body: unknown) =>
        rawRequest(port, "POST", target, {
          headers: { "Content-Type": "application/json", Origin: `http://127.0.0.1:${port}`, "X-CSRF-Token": session.csrf },
          body: JSON.stringify(body),
        });
      const res = await post(`/api/runs/${ids.a}/comments`, { msg: "nice curve" });
      assert.equal(res.status, 201);
      assert.equal((await post(`/api/runs/${ids.b}/label`, { label: "winner" })).status, 200);
      const run = json(await get(`/api/runs/${ids.a}`));
      assert.deepEqual(run.comments.map((c: any) => [c.author, c.msg]), [["viewer", "nice curve"]]);
      assert.equal(json(await get(`/api/runs?where=label=winner`)).total, 1);
      // Another machine pulls: the comment is a user log entry there, merged by union.
      const other = join(tmp.path, "other");
      await clone({ runsDir: other, remote: await ctx.open() });
      const log = await readUserLog(join(other, `${ids.a}.user`));
      const entry = log.map((l) => l.entry).find((e) => Object.keys(e.set).some((k) => k.startsWith("comment:")))!;
      assert.equal(entry.author, "viewer");
      assert.deepEqual(Object.values(entry.set), [{ msg: "nice curve", timestamp: clock }]);
      assert.equal((await readRun(other, ids.b)).label, "winner");
      // The original runs directory pulls the same, its own label history kept.
      await pull({ runsDir, remote: await ctx.open() });
      assert.equal((await readRun(runsDir, ids.b)).label, "winner");
      assert.equal((await readUserLog(join(runsDir, `${ids.b}.user`))).length, 2);
    });

    test("a new push shows up without a restart", async () => {
      const id = "66666666-ffff-4fff-8fff-ffffffffffff";
      await writeRun(runsDir, { id, exit: 0, started: 1_770_500_000, label: "fresh", files: { "a.txt": "new" } });
      await push({ runsDir, remote: await ctx.open() });
      clock += 5000;
      const res = json(await get("/api/runs?where=fresh"));
      assert.deepEqual(res.runs.map((r: any) => r.id), [id]);
      assert.equal((await get(`/api/runs/${id}/files/a.txt`)).body.toString(), "new");
    });

    test("openSource tells a store folder from a runs directory", async () => {
      if (!ctx.url.startsWith("/")) return;
      const s = await openSource(ctx.url, { runsDir: "/nonexistent", cwd: "/", env: ctx.env });
      assert.equal(s.kind, "store");
      await s.close();
      const r = await openSource(runsDir, { runsDir: "/nonexistent", cwd: "/", env: ctx.env });
      assert.equal(r.kind, "runs-dir");
    });
  });
}

storeSuite("folder", async () => {
  const dir = tempDir("gage-serve-folder-store-");
  const url = join(dir.path, "store");
  return { url, env: {}, open: () => openStorage(url), done: async () => dir.cleanup() };
});

let s3: S3rverHandle;
storeSuite("s3rver", async () => {
  s3 = await startS3rver();
  const url = s3.url("team");
  return { url, env: s3.env, open: () => openStorage(url, { env: s3.env }), done: () => s3.stop() };
});

let sshd: SshdHandle;
storeSuite("ssh", async () => {
  sshd = await startSshd();
  const url = sshd.url(join(sshd.root, "store"));
  return { url, env: sshd.env, open: () => openStorage(url, { env: sshd.env }), done: () => sshd.stop() };
});
