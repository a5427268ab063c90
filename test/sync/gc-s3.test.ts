import assert from "node:assert/strict";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { openStorage } from "../../src/remotes/open.js";
import { runPaths } from "../../src/runs/layout.js";
import { readRun } from "../../src/runs/run.js";
import { gc } from "../../src/sync/gc.js";
import { HEAD_PREFIX } from "../../src/sync/heads.js";
import { clone, push } from "../../src/sync/index.js";
import { startS3rver, type S3rverHandle } from "../helpers/s3rver.js";
import { freshCases, listing, SHARED_RUN } from "./story.js";

let s3: S3rverHandle;
before(async () => {
  s3 = await startS3rver();
});
after(() => s3.stop());
const fresh = freshCases("gage-sync-gc-s3-");

test("gc over S3 (s3rver): sets aside, then removes, and the remote still clones whole", async () => {
  const { root, origin } = fresh();
  const open = () => openStorage(s3.url("gc/runs"), { env: s3.env });
  await push({ runsDir: origin, remote: await open(), now: () => Date.now() - 3_600_000 });
  const file = join(runPaths(origin, SHARED_RUN).runDir, "hello.py");
  chmodSync(join(file, ".."), 0o755);
  chmodSync(file, 0o644);
  writeFileSync(file, "print('changed')\n");
  chmodSync(file, 0o444);
  await push({ runsDir: origin, remote: await open(), now: () => Date.now() - 3_600_000 });

  const storage = await open();
  const t0 = Date.now();
  const first = await gc({ runsDir: origin, remote: storage, now: () => t0 + 2 * 86_400_000 });
  assert.equal(first.packs.trimmed, 1, "S3 gives pack ages (LastModified)");
  const second = await gc({ runsDir: origin, remote: storage, now: () => t0 + 4 * 86_400_000 });
  assert.equal(second.heads.removed, 2);
  const heads: string[] = [];
  for await (const { key } of storage.list(HEAD_PREFIX)) heads.push(key);
  assert.deepEqual(heads, []);
  await storage.close();

  const copy = join(root, "copy");
  await clone({ runsDir: copy, remote: await open() });
  assert.deepEqual(listing(copy), listing(origin, (n) => n === ".gage-sync" || n.endsWith(".project") || n.startsWith("0dcb788a")));
  assert.equal((await readRun(copy, SHARED_RUN)).label, (await readRun(origin, SHARED_RUN)).label);
});
