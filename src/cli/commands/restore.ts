import type { Command } from "commander";
import { restoreRuns } from "../../runs/ops.js";
import type { CliContext } from "../context.js";
import { confirmRunsChange, runCount, selectForChange } from "../run-selection.js";

export function registerRestore(program: Command, ctx: CliContext): void {
  program
    .command("restore")
    .summary("restore deleted runs")
    .description("Restore deleted runs: ID.meta.deleted becomes ID.meta again. 'gage ls -d' lists deleted runs.")
    .argument("[run...]", "deleted runs: index or slice in 'gage ls -d', or id or name prefix")
    .option("-a, --all", "restore all deleted runs (after --where)")
    .option("-w, --where <expr>", "only deleted runs matching a filter")
    .option("-y, --yes", "do not ask for confirmation")
    .action(async (specs: string[], opts: { all?: boolean; where?: string; yes?: boolean }) => {
      const selected = await selectForChange(ctx, specs, {
        verb: "restore",
        deleted: true,
        all: opts.all ?? false,
        ...(opts.where === undefined ? {} : { where: opts.where }),
      });
      const n = runCount(selected.runs.length);
      await confirmRunsChange(ctx, selected, { yes: opts.yes ?? false, deleted: true, message: `You are about to restore ${n}.` });
      await restoreRuns(selected.runs);
      ctx.stderr.write(`Restored ${n}\n`);
    });
}
