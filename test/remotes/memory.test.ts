import { openStorage } from "../../src/remotes/open.js";
import { storageConformance } from "./conformance.js";

storageConformance("memory", async () => {
  const storage = await openStorage(`memory://conformance-${process.pid}`);
  return {
    storage,
    // a MemoryStorage holds every object whole: a smaller object keeps the test light
    largeSize: 16 * 1024 * 1024,
    boundedMemory: false,
    listOrderFaithful: true,
    wrongCredentials: { notApplicable: "in-process objects have no credentials" },
    unknownHostKey: { notApplicable: "no host keys in process memory" },
    stopServer: { notApplicable: "no server behind process memory" },
    fifoAt: { notApplicable: "objects in memory are not files" },
    teardown: () => storage.close(),
  };
});
