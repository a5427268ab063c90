import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkSteps, type CheckResult, type CheckStep } from "../check.js";
import type { GitRemoteSpec } from "../config.js";
import { redactUrl } from "../url.js";
import { openGitRepo, type GitRepo } from "./repo.js";

/**
 * `gage remote check` for a Git remote, writing nothing to it: connect (credentials read, the
 * remote reached), read (the branch listed; absent until the first push), write (push permission
 * asked of the server, or the bare repository's folders writable).
 */
export async function checkGitRemote(spec: GitRemoteSpec, env: NodeJS.ProcessEnv, onStep?: (step: CheckStep) => void): Promise<CheckResult> {
  const { steps, record, attempt } = checkSteps(onStep);
  const scratch = await mkdtemp(join(tmpdir(), "gage-git-check-"));
  try {
    let repo: GitRepo | undefined;
    const connected = await attempt("connect", async () => {
      repo = await openGitRepo(spec.location, { settings: spec.settings, env, cacheDir: join(scratch, "repo.git") });
      await repo.tip();
    });
    const read = connected ? await attempt("read", async () => void (await repo!.tip())) : record({ step: "read", status: "skipped" });
    if (read) await attempt("write", () => repo!.checkWrite());
    else record({ step: "write", status: "skipped" });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return { remote: { ...spec, url: redactUrl(spec.url) }, steps, ok: steps.every((s) => s.status === "ok") };
}
