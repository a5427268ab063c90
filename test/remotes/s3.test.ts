import { openStorage } from "../../src/remotes/open.js";
import { startS3rver } from "../helpers/s3rver.js";
import { storageConformance } from "./conformance.js";

storageConformance("s3", async () => {
  const s3 = await startS3rver();
  const storage = await openStorage(s3.url("conformance"), { env: s3.env });
  return {
    storage,
    largeSize: 200 * 1024 * 1024,
    boundedMemory: true,
    listOrderFaithful: false,
    async wrongCredentials() {
      const wrong = await openStorage(s3.url("conformance"), { env: { ...s3.env, AWS_ACCESS_KEY_ID: "WRONG" } });
      try {
        await wrong.put("t/denied", Buffer.from("x"));
      } finally {
        await wrong.close();
      }
    },
    unknownHostKey: { notApplicable: "S3 speaks HTTP(S): no SSH host keys" },
    stopServer: () => s3.stop(),
    fifoAt: { notApplicable: "S3 objects are not files" },
    async teardown() {
      await storage.close();
      await s3.stop();
    },
  };
});
