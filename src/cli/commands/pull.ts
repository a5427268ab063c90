import type { Command } from "commander";
import { planPull } from "../../sync/pull.js";
import type { CliContext } from "../context.js";
import { formatBytes, plural, whilePlanning } from "../transfer-ui.js";
import { runSyncPlan, splitRemoteArgs, syncOptions } from "./push.js";
import { transferOptions, type TransferCliOptions } from "../transfer-options.js";

export function registerPull(program: Command, ctx: CliContext): void {
  transferOptions(
    program
      .command("pull")
      .summary("fetch runs from a remote")
      .description(
        "Fetch runs from a remote's content-addressed store, or a Git repository's gage-runs branch, " +
          "into the runs directory. With no REMOTE, " +
          "the runs directory's default remote; with no RUN, all of the remote's runs.\n\n" +
          "Every object is verified and every path checked before it is written; files are written under " +
          "temporary names and renamed into place, and a new run appears only once complete. User " +
          "attributes merge; ID.project is never touched; runs deleted here are pulled only when named.",
      )
      .argument("[remote]", "remote name, URL or path")
      .argument("[run...]", "runs to pull: index, slice a:b, or id or name prefix (of the remote's runs)"),
    { verb: "pull", participle: "pulled", allByDefault: true, force: "when a run diverged, keep this side's files and metadata (user attributes still merge)" },
  ).action(async (first: string | undefined, more: string[], opts: TransferCliOptions) => {
    const { remote, specs } = await splitRemoteArgs(ctx, [...(first === undefined ? [] : [first]), ...more]);
    const sync = syncOptions(ctx, remote, specs, opts);
    const plan = await whilePlanning(ctx, opts, `Comparing local runs with ${remote ?? "the default remote"}`, () => planPull(sync));
    await runSyncPlan(ctx, plan, opts, { verb: "pull", past: "Pulled", direction: "from" }, (r) =>
      r.files > 0 ? [formatBytes(r.bytes), plural(r.files, "file")] : [],
    );
  });
}
