import { after, before, test } from "node:test";
import { openStorage } from "../../src/remotes/open.js";
import { tempDir } from "../helpers/fixtures.js";
import { startS3rver, type S3rverHandle } from "../helpers/s3rver.js";
import { shareAndRetrieve } from "./story.js";

let s3: S3rverHandle;
const tmp = tempDir("gage-sync-s3-");
before(async () => {
  s3 = await startS3rver();
});
after(async () => {
  await s3.stop();
  tmp.cleanup();
});

test("share and retrieve through S3 (s3rver)", async () => {
  await shareAndRetrieve(tmp.path, () => openStorage(s3.url("team/runs"), { env: s3.env }));
});
