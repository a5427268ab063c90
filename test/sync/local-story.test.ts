import { test } from "node:test";
import { join } from "node:path";
import { openStorage } from "../../src/remotes/open.js";
import { tempDir } from "../helpers/fixtures.js";
import { shareAndRetrieve } from "./story.js";

test("share and retrieve through a local directory remote", async () => {
  const tmp = tempDir();
  try {
    const remoteDir = join(tmp.path, "remote");
    await shareAndRetrieve(tmp.path, () => openStorage(remoteDir));
  } finally {
    tmp.cleanup();
  }
});
