/**
 * The S3 backend against a real signature-checking S3 server (Ceph RGW), beside s3rver: the share
 * and retrieve story, gage verify over it, wrong secrets refused (exit 5), then the storage
 * conformance suite, whose last test stops the server. RGW starts once for this file (~15 s).
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { packKey } from "../../src/objects/index.js";
import { openStorage } from "../../src/remotes/open.js";
import { gage } from "../helpers/cli.js";
import { tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";
import { startRgw, type RgwHandle } from "../helpers/rgw.js";
import { shareAndRetrieve, SHARED_RUN } from "../sync/story.js";
import { damageObject, manifestOf } from "../sync/verify-damage.js";
import { storageConformance } from "./conformance.js";

const tmp = tempDir("gage-rgw-");
let started: Promise<RgwHandle> | undefined;
const rgw = () => (started ??= startRgw());
after(async () => {
  await (await started)?.stop();
  tmp.cleanup();
});

test("share and retrieve through S3 (Ceph RGW, signatures checked)", { timeout: 300_000 }, async () => {
  const s = await rgw();
  const root = join(tmp.path, "story");
  mkdirSync(root);
  await shareAndRetrieve(root, () => openStorage(s.url("team/runs"), { env: s.env }));
});

test("gage verify over RGW: clean, then a flipped byte (exit 6); wrong secrets are refused with exit 5", { timeout: 300_000 }, async () => {
  const s = await rgw();
  const root = join(tmp.path, "verify");
  mkdirSync(root);
  const runs = unpackFixtureRuns(root);
  const env = { ...s.env, GAGE_RUNS: runs };
  const url = s.url("verify");
  let r = await gage(["push", url, "-y"], { env });
  assert.equal(r.code, 0, r.stderr);
  r = await gage(["verify", url, "--read-data"], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^Checked 9 runs in s3:\/\/.+: 1 head, 0 catalogs, 1 pack, [\d,]+ objects; read [\d,]+ objects \(.+\); no problems\n$/);

  const storage = await openStorage(url, { env: s.env });
  const packId = await damageObject(storage, manifestOf(runs, SHARED_RUN).get("hello.py")!);
  await storage.close();
  r = await gage(["verify", url, "--read-data"], { env });
  assert.equal(r.code, 6, r.stderr);
  assert.match(r.stdout, new RegExp(`^damaged: ${packKey(packId)}: 1 object is damaged`));

  for (const args of [["verify", url], ["ls", "--remote", url], ["push", url, "-y"]]) {
    r = await gage(args, { env: { ...env, AWS_SECRET_ACCESS_KEY: "not-the-secret" } });
    assert.equal(r.code, 5, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, /^gage: /);
    assert.doesNotMatch(r.stderr, /not-the-secret/, "the secret is never printed");
  }
});

storageConformance("s3", async () => {
  const s = await rgw();
  const storage = await openStorage(s.url("conformance"), { env: s.env });
  return {
    storage,
    largeSize: 200 * 1024 * 1024,
    boundedMemory: true,
    listOrderFaithful: true,
    async wrongCredentials() {
      // The right key id with a wrong secret: only a server that checks signatures refuses it.
      const wrong = await openStorage(s.url("conformance"), { env: { ...s.env, AWS_SECRET_ACCESS_KEY: "not-the-secret" } });
      try {
        await wrong.put("t/denied", Buffer.from("x"));
      } finally {
        await wrong.close();
      }
    },
    unknownHostKey: { notApplicable: "S3 speaks HTTP(S): no SSH host keys" },
    stopServer: () => s.stop(),
    fifoAt: { notApplicable: "S3 objects are not files" },
    async teardown() {
      await storage.close();
    },
  };
});
