import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { openStorage } from "../../src/remotes/open.js";
import { startSshd } from "../helpers/sshd.js";
import { mkfifoAt } from "../helpers/fixtures.js";
import { storageConformance } from "./conformance.js";

const run = promisify(execFile);

storageConformance("ssh", async () => {
  const sshd = await startSshd();
  const storage = await openStorage(sshd.url(join(sshd.root, "conformance")), { env: sshd.env });
  return {
    storage,
    largeSize: 200 * 1024 * 1024,
    boundedMemory: true,
    listOrderFaithful: true,
    async wrongCredentials() {
      // a fresh key the server has never authorized
      const other = join(sshd.home, "unauthorized_key");
      await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
      const wrong = await openStorage(sshd.url(sshd.root), { env: sshd.env, settings: { identity_file: other } });
      await wrong.close();
    },
    async unknownHostKey() {
      const home = join(sshd.home, "..", "empty-known-hosts");
      await run("mkdir", ["-p", join(home, ".ssh")]);
      await run("cp", [sshd.identityFile, join(home, ".ssh", "id_ed25519")]);
      await writeFile(join(home, ".ssh", "known_hosts"), "");
      const unknown = await openStorage(sshd.url(sshd.root), { env: { ...sshd.env, HOME: home } });
      await unknown.close();
    },
    stopServer: () => sshd.stop(),
    fifoAt: async (key) => mkfifoAt(join(sshd.root, "conformance", key)),
    async teardown() {
      await storage.close();
      await sshd.stop();
    },
  };
});
