import type { Command } from "commander";
import { resolve } from "node:path";
import { UsageError } from "../../errors.js";
import { associateProject } from "../../runs/ops.js";
import type { CliContext } from "../context.js";
import { printable } from "../printable.js";
import { findOne } from "../run-selection.js";

export function registerAssociate(program: Command, ctx: CliContext): void {
  program
    .command("associate")
    .summary("associate a run with a project directory")
    .description(
      "Write the run's project reference (ID.project) to point at DIR, or remove it with --remove.\n" +
        "The reference is local to this machine: no push, pull or copy ever sends or changes it.",
    )
    .argument("<run>", "index, or id or name prefix")
    .argument("[dir]", "project directory")
    .option("--remove", "remove the association")
    .action(async (spec: string, dir: string | undefined, opts: { remove?: boolean }) => {
      if (opts.remove && dir !== undefined) throw new UsageError("DIR cannot be used with --remove");
      if (!opts.remove && dir === undefined) {
        throw new UsageError("Argument DIR is required unless '--remove' is used", { hint: "Try 'gage associate --help' for help." });
      }
      const run = await findOne(ctx, spec);
      if (opts.remove) {
        await associateProject(run, undefined);
        ctx.stdout.write(`Removed project association for "${printable(run.id)}"\n`);
        return;
      }
      const abs = resolve(ctx.cwd, dir!);
      await associateProject(run, abs);
      ctx.stdout.write(`Associated "${printable(run.id)}" with ${printable(abs)}\n`);
    });
}
