import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { readProjectRef } from "../../runs/project-ref.js";
import { runMetaDir } from "../../runs/run.js";
import type { CliContext } from "../context.js";
import { printable } from "../printable.js";
import { findOne } from "../run-selection.js";

interface SelectOptions {
  name?: boolean;
  runDir?: boolean;
  metaDir?: boolean;
  projectDir?: boolean;
  label?: boolean;
  where?: string;
}

export function registerSelect(program: Command, ctx: CliContext): void {
  program
    .command("select")
    .summary("print a run's id, name, directories or label")
    .description(
      "Print one line for each RUN (default: the newest run): its id, or what an option asks for.\n" +
        "A run without a project or a label prints an empty line.\n" +
        "Each RUN must match exactly one run; an ambiguous RUN lists its matches.",
    )
    .argument("[run...]", "index, slice, or id or name prefix")
    .option("--name", "print the run name")
    .option("--run-dir", "print the run directory")
    .option("--meta-dir", "print the run meta directory")
    .option("--project-dir", "print the project directory the run is associated with")
    .option("--label", "print the run label")
    .option("-w, --where <expr>", "select from runs matching a filter (see 'gage ls --help')")
    .action(async (specs: string[], opts: SelectOptions) => {
      const chosen = [opts.name, opts.runDir, opts.metaDir, opts.projectDir, opts.label].filter(Boolean).length;
      if (chosen > 1) throw new UsageError("Use only one of --name, --run-dir, --meta-dir, --project-dir, --label");
      for (const spec of specs.length ? specs : [undefined]) {
        const run = await findOne(ctx, spec, opts.where === undefined ? {} : { where: opts.where });
        let line: string;
        if (opts.name) line = run.name;
        else if (opts.runDir) line = run.paths.runDir;
        else if (opts.metaDir) line = runMetaDir(run);
        else if (opts.projectDir) line = (await readProjectRef(run.paths.projectFile)) ?? "";
        else if (opts.label) line = run.label ?? "";
        else line = run.id;
        // Scripts read the bytes as they are; a terminal gets them escaped.
        ctx.stdout.write((ctx.stdout.isTTY ? printable(line) : line) + "\n");
      }
    });
}
