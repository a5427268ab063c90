import { join } from "node:path";
import { after, before, test } from "node:test";
import { openStorage } from "../../src/remotes/open.js";
import { tempDir } from "../helpers/fixtures.js";
import { startSshd, type SshdHandle } from "../helpers/sshd.js";
import { shareAndRetrieve } from "./story.js";

let sshd: SshdHandle;
const tmp = tempDir("gage-sync-ssh-");
before(async () => {
  sshd = await startSshd();
});
after(async () => {
  await sshd.stop();
  tmp.cleanup();
});

test("share and retrieve through SSH (OpenSSH sshd)", async () => {
  const url = sshd.url(join(sshd.root, "team-store"));
  await shareAndRetrieve(tmp.path, () => openStorage(url, { env: sshd.env as NodeJS.ProcessEnv, home: sshd.home }));
});
