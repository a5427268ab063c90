import type { Command } from "commander";
import { deleteRuns, purgeRuns } from "../../runs/ops.js";
import type { CliContext } from "../context.js";
import { confirmRunsChange, runCount, selectForChange } from "../run-selection.js";

interface DeleteOptions {
  all?: boolean;
  where?: string;
  permanent?: boolean;
  yes?: boolean;
}

export function registerDelete(program: Command, ctx: CliContext): void {
  program
    .command("delete")
    .alias("rm")
    .summary("delete runs")
    .description(
      "Delete runs as Gage does: ID.meta becomes ID.meta.deleted, so 'gage ls -d' lists them,\n" +
        "'gage restore' brings them back and 'gage purge' removes them for good.\n" +
        "With --permanent the runs are removed for good at once.",
    )
    .argument("[run...]", "runs to delete: index, slice, or id or name prefix")
    .option("-a, --all", "delete all runs (after --where)")
    .option("-w, --where <expr>", "delete runs matching a filter (all of them when no RUN is given)")
    .option("-p, --permanent", "remove the runs for good")
    .option("-y, --yes", "do not ask for confirmation")
    .action(async (specs: string[], opts: DeleteOptions) => {
      const selected = await selectForChange(ctx, specs, {
        verb: "delete",
        all: (opts.all ?? false) || (opts.where !== undefined && specs.length === 0),
        ...(opts.where === undefined ? {} : { where: opts.where }),
      });
      const n = runCount(selected.runs.length);
      await confirmRunsChange(ctx, selected, {
        yes: opts.yes ?? false,
        message: opts.permanent ? `You are about to PERMANENTLY delete ${n}. This cannot be undone.` : `You are about to delete ${n}.`,
        default: !opts.permanent,
      });
      const runs = selected.runs;
      if (opts.permanent) await purgeRuns(runs);
      else await deleteRuns(runs);
      ctx.stderr.write(`${opts.permanent ? "Permanently deleted" : "Deleted"} ${n}\n`);
    });
}
