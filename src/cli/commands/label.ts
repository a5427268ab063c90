import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { setLabel } from "../../runs/ops.js";
import { cliAuthor, type CliContext } from "../context.js";
import { confirmRunsChange, runCount, selectForChange } from "../run-selection.js";

interface LabelOptions {
  set?: string;
  clear?: boolean;
  all?: boolean;
  where?: string;
  yes?: boolean;
}

export function registerLabel(program: Command, ctx: CliContext): void {
  program
    .command("label")
    .summary("set or clear run labels")
    .description(
      "Set or clear the label of runs. The change is a new entry in each run's user log\n" +
        "(ID.user/), so labels set elsewhere merge instead of being overwritten.",
    )
    .argument("[run...]", "runs to label: index, slice, or id or name prefix")
    .option("--set <label>", "set the label")
    .option("--clear", "clear the label")
    .option("-a, --all", "label all runs (after --where)")
    .option("-w, --where <expr>", "only runs matching a filter (see 'gage ls --help')")
    .option("-y, --yes", "do not ask for confirmation")
    .action(async (specs: string[], opts: LabelOptions) => {
      if ((opts.set === undefined) === !opts.clear) {
        throw new UsageError("Specify either '--set' or '--clear'", { hint: "Try 'gage label --help' for help." });
      }
      const selected = await selectForChange(ctx, specs, {
        verb: "modify",
        all: opts.all ?? false,
        ...(opts.where === undefined ? {} : { where: opts.where }),
      });
      await confirmRunsChange(ctx, selected, {
        yes: opts.yes ?? false,
        message:
          opts.set !== undefined
            ? `You are about to set the label of ${runCount(selected.runs.length)} to ${JSON.stringify(opts.set)}.`
            : `You are about to clear the label of ${runCount(selected.runs.length)}.`,
      });
      await setLabel(
        selected.runs,
        opts.set,
        { author: cliAuthor(ctx), nowMs: ctx.now().getTime() },
      );
      ctx.stderr.write(`${opts.set !== undefined ? "Set" : "Cleared"} label for ${runCount(selected.runs.length)}\n`);
    });
}
