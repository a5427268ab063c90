import type { Command } from "commander";
import { purgeRuns } from "../../runs/ops.js";
import type { CliContext } from "../context.js";
import { confirmRunsChange, runCount, selectForChange } from "../run-selection.js";

export function registerPurge(program: Command, ctx: CliContext): void {
  program
    .command("purge")
    .summary("remove deleted runs for good")
    .description(
      "Remove deleted runs for good: their files, meta, user log and project reference.\n" +
        "'gage ls -d' lists deleted runs. This cannot be undone.",
    )
    .argument("[run...]", "deleted runs: index or slice in 'gage ls -d', or id or name prefix")
    .option("-a, --all", "purge all deleted runs (after --where)")
    .option("-w, --where <expr>", "only deleted runs matching a filter")
    .option("-y, --yes", "do not ask for confirmation")
    .action(async (specs: string[], opts: { all?: boolean; where?: string; yes?: boolean }) => {
      const selected = await selectForChange(ctx, specs, {
        verb: "purge",
        deleted: true,
        all: opts.all ?? false,
        ...(opts.where === undefined ? {} : { where: opts.where }),
      });
      const n = runCount(selected.runs.length);
      await confirmRunsChange(ctx, selected, {
        yes: opts.yes ?? false,
        deleted: true,
        default: false,
        message: `You are about to PERMANENTLY delete ${n}. This cannot be undone.`,
      });
      await purgeRuns(selected.runs);
      ctx.stderr.write(`Permanently deleted ${n}\n`);
    });
}
