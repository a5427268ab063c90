import type { Command } from "commander";
import { planRun, runOperation, startRun, type RunResult } from "../../runner/run.js";
import { pyRepr, type RunConfig } from "../../runner/values.js";
import { confirm } from "../confirm.js";
import { cliAuthor, cliRunsDir, type CliContext } from "../context.js";
import { renderTable } from "../table.js";
import { outputStyle } from "../terminal.js";

interface RunCliOptions {
  label?: string;
  yes?: boolean;
  stage?: boolean;
  start?: string;
  helpOp?: boolean;
}

export function registerRun(program: Command, ctx: CliContext): void {
  program
    .command("run")
    .summary("run an operation")
    .description(
      "Run an operation defined in the project's gagefile (gage.toml, gage.yaml or gage.json), as Gage does.\n\n" +
        "OPERATION defaults to the one marked `default = true`, or the only one. FLAGS are NAME=VALUE:\n" +
        "config keys of the operation's config files, written into the run's copy of them.\n" +
        "The operation's stdout and stderr are both shown on stdout.",
    )
    .argument("[operation]", "the operation to run")
    .argument("[flags...]", "NAME=VALUE flags")
    .option("-l, --label <label>", "label for the run")
    .option("-y, --yes", "run without asking for confirmation")
    .option("--stage", "stage the run without starting it")
    .option("--start <run>", "start a staged run")
    .option("--help-op", "show the operation's flags and defaults")
    .addHelpText(
      "after",
      "\nExit status: the operation's own exit code (128 + the signal number when it was\n" +
        "terminated), 2 for a missing gagefile, operation or bad flag, 130 when not confirmed.\n" +
        "(Python Gage exits 0 whatever the operation does.)",
    )
    .action(async (opspec: string | undefined, flags: string[], opts: RunCliOptions) => {
      if (opts.helpOp) {
        showOpHelp(ctx, opspec, flags);
        return;
      }
      const interrupt = interruptSignal(ctx);
      try {
        const common = {
          runsDir: cliRunsDir(ctx),
          env: ctx.env,
          onOutput: (chunk: Uint8Array) => ctx.stdout.write(chunk),
          signal: interrupt.signal,
        };
        const result = opts.start
          ? await startRun({
              ...common,
              run: opts.start,
              confirm: (run) => confirmRun(ctx, opts, "start", run.operation, run.config),
            })
          : await runOperation({
              ...common,
              cwd: ctx.cwd,
              ...(opspec === undefined ? {} : { opspec }),
              flags,
              ...(opts.label === undefined ? {} : { label: opts.label }),
              author: cliAuthor(ctx),
              stageOnly: opts.stage ?? false,
              confirm: (plan) => confirmRun(ctx, opts, opts.stage ? "stage" : "run", plan.operation, plan.config),
            });
        report(ctx, result);
      } finally {
        interrupt.dispose();
      }
    });
}

function report(ctx: CliContext, result: RunResult): void {
  if (result.status === "staged") {
    ctx.stdout.write(`Run "${result.name}" is staged\n\nTo start it, run 'gage run --start ${result.name}'\n`);
    return;
  }
  const code = result.exitCode ?? 0;
  ctx.exitCode = code >= 0 ? code : 128 - code;
}

async function confirmRun(ctx: CliContext, opts: RunCliOptions, action: string, operation: string, config: RunConfig): Promise<boolean> {
  if (opts.yes) return true;
  ctx.stderr.write(`You are about to ${action} ${operation}\n`);
  const rows = Object.keys(config)
    .sort()
    .map((k) => [k, formatValue(config[k]!)]);
  ctx.stderr.write(rows.length ? renderTable([{ header: "flag" }, { header: "value" }], rows, outputStyle(ctx, ctx.stderr)) : "\n");
  return confirm(ctx, "Continue?");
}

function showOpHelp(ctx: CliContext, opspec: string | undefined, flags: string[]): void {
  const plan = planRun({ cwd: ctx.cwd, ...(opspec === undefined ? {} : { opspec }), flags });
  const description = typeof plan.opdef.description === "string" ? `\n${plan.opdef.description}\n` : "";
  const rows = plan.flags.map((name) => [name, formatValue(plan.config[name]!)]);
  const table = rows.length
    ? renderTable([{ header: "flag" }, { header: "default" }], rows, outputStyle(ctx))
    : "\nThis operation has no flags.\n";
  ctx.stdout.write(`Usage: gage run ${plan.opref.name} [options] [flags]\n${description}${table}`);
}

function formatValue(value: RunConfig[string]): string {
  return typeof value === "string" ? value : pyRepr(value);
}

/**
 * SIGINT and SIGTERM while an operation runs end the operation (its whole process group), not
 * `gage`: the run is finalized with status `terminated`.
 */
function interruptSignal(ctx: CliContext): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const dispose = ctx.onInterrupt((sig) => controller.abort(sig));
  return { signal: controller.signal, dispose };
}
