import type { Command } from "commander";
import { readRunComments, readRunDetails, readRunOutput } from "../../runs/details.js";
import { readProjectRef } from "../../runs/project-ref.js";
import type { CliContext } from "../context.js";
import { findOne, runJson, selectOne } from "../run-selection.js";
import { renderFilesTable, renderShow } from "../run-panels.js";
import { outputStyle } from "../terminal.js";

export function registerShow(program: Command, ctx: CliContext): void {
  program
    .command("show")
    .summary("show a run")
    .description(
      "Show a run (default: the newest) as Gage does: its id, operation, status and label, attributes, " +
        "configuration, files, output and comments. --files lists only its files.",
    )
    .argument("[run]", "index, or id or name prefix")
    .option("-f, --files", "list the run's files only")
    .option("-w, --where <expr>", "select from runs matching a filter (see 'gage ls --help')")
    .option("--json", "print as JSON")
    .action(async (spec: string | undefined, opts: { where?: string; json?: boolean; files?: boolean }) => {
      const where = opts.where === undefined ? {} : { where: opts.where };
      // Only JSON shows the run's position in the listing: else a run named by id is read alone.
      const ir = opts.json ? await selectOne(ctx, spec, where) : undefined;
      const run = ir?.run ?? (await findOne(ctx, spec, where));
      const details = await readRunDetails(run);
      const style = outputStyle(ctx);
      if (opts.files && !opts.json) {
        ctx.stdout.write(renderFilesTable(details.files, style, "table"));
        return;
      }
      const [project, comments] = await Promise.all([readProjectRef(run.paths.projectFile), readRunComments(run)]);
      if (opts.json) {
        ctx.stdout.write(
          JSON.stringify({ ...runJson(ir!), projectDir: project ?? null, exitCode: details.exitCode ?? null, config: details.config, comments, files: details.files }, null, 2) + "\n",
        );
        return;
      }
      const output = await readRunOutput(run);
      ctx.stdout.write(renderShow({ run, details, project, output, comments, home: ctx.env.HOME, nowMs: ctx.now().getTime() }, style));
    });
}
