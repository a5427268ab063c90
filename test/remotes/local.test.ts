import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStorage } from "../../src/remotes/open.js";
import { mkfifoAt } from "../helpers/fixtures.js";
import { storageConformance } from "./conformance.js";

storageConformance("local", async () => {
  const dir = await mkdtemp(join(tmpdir(), "gage-local-"));
  const storage = await openStorage(join(dir, "store"));
  return {
    storage,
    largeSize: 200 * 1024 * 1024,
    boundedMemory: true,
    listOrderFaithful: true,
    wrongCredentials: { notApplicable: "a local folder has no credentials" },
    unknownHostKey: { notApplicable: "no host keys for a local folder" },
    stopServer: { notApplicable: "no server behind a local folder" },
    fifoAt: async (key) => mkfifoAt(join(dir, "store", key)),
    teardown: () => rm(dir, { recursive: true, force: true }),
  };
});
