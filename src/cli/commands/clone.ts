import type { Command } from "commander";
import { resolve } from "node:path";
import { planClone } from "../../sync/clone.js";
import { cliRunsDir, type CliContext } from "../context.js";
import { formatBytes, plural, whilePlanning } from "../transfer-ui.js";
import { runSyncPlan, syncOptions } from "./push.js";
import { transferOptions, type TransferCliOptions } from "../transfer-options.js";

export function registerClone(program: Command, ctx: CliContext): void {
  transferOptions(
    program
      .command("clone")
      .summary("make a new runs directory from a remote")
      .description(
        "Make a new runs directory (DIR, else the runs directory, which must be empty) holding the " +
          "remote's runs, with the remote recorded as its default remote for push and pull.",
      )
      .argument("<remote>", "remote name, URL or path")
      .argument("[dir]", "the new runs directory"),
    { verb: "clone", participle: "cloned", allByDefault: true, force: "when a run diverged, keep this side's files and metadata (user attributes still merge)" },
  ).action(async (remote: string, dir: string | undefined, opts: TransferCliOptions) => {
    const base = syncOptions(ctx, remote, [], opts);
    const runsDir = dir === undefined ? cliRunsDir(ctx) : resolve(ctx.cwd, dir);
    const sync = { ...base, remote, runsDir };
    const plan = await whilePlanning(ctx, opts, `Reading ${remote}`, () => planClone(sync));
    await runSyncPlan(ctx, plan, { ...opts, yes: opts.yes ?? !opts.dryRun }, { verb: "clone", past: "Cloned", direction: "from" }, (r) =>
      r.files > 0 ? [formatBytes(r.bytes), plural(r.files, "file")] : [],
    );
  });
}
