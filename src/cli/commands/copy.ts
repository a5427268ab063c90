import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { copyResult, describeRun, executeCopy, planCopy, type CopyPlan } from "../../sync/copy/index.js";
import { cliRunsDir, warn, type CliContext } from "../context.js";
import { runCount } from "../run-selection.js";
import { parseOnly, transferOptions, type TransferCliOptions } from "../transfer-options.js";
import { nothingMessage, runTransfer, transferSummary, type TransferPreviewRow } from "../transfer-ui.js";

interface CopyCliOptions extends TransferCliOptions {
  to?: string;
  from?: string;
}

export function registerCopy(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("copy")
    .summary("copy runs to or from another runs directory")
    .description(
      "Copy runs to (--to) or from (--from) another runs directory in the plain Gage layout: a path, " +
        "a URL (file://, s3://BUCKET/PREFIX, ssh://HOST/PATH, USER@HOST:PATH) or a configured remote's name. " +
        "The other side can be read with GAGE_RUNS=DIR gage ls.\n\n" +
        "Copies ID/, ID.meta/ and ID.user/, never ID.project, and deletes nothing. User attributes " +
        "(labels, comments) merge; files that grew are updated; files changed differently on both " +
        "sides stop the copy with a conflict, which --force settles in favour of this side. " +
        "Deleted runs are copied only when named.",
    )
    .argument("[run...]", "runs to copy: index, slice a:b, or id or name prefix (of the sending side's runs)")
    .option("--to <dest>", "copy local runs to DEST")
    .option("--from <src>", "copy runs from SRC into the local runs directory");
  transferOptions(cmd, {
    verb: "copy",
    participle: "copied",
    allByDefault: false,
    force: "on a conflict keep this side's files (--to overwrites the destination's)",
  }).action(async (specs: string[], opts: CopyCliOptions) => {
      if ((opts.to === undefined) === (opts.from === undefined)) {
        throw new UsageError("Specify exactly one of --to DEST and --from SRC");
      }
      const direction = opts.to !== undefined ? "to" : "from";
      const plan = await planCopy({
        runsDir: cliRunsDir(ctx),
        direction,
        target: (opts.to ?? opts.from)!,
        cwd: ctx.cwd,
        storageOptions: { env: ctx.env, cwd: ctx.cwd },
        runs: specs,
        all: opts.all ?? false,
        ...(opts.where === undefined ? {} : { where: opts.where }),
        ...(opts.only === undefined ? {} : { only: parseOnly(opts.only) }),
        force: opts.force ?? false,
        onWarning: (m) => warn(ctx, m),
      });
      try {
        await runCopy(ctx, plan, opts);
      } finally {
        await plan.close();
      }
    });
}

async function runCopy(ctx: CliContext, plan: CopyPlan, opts: CopyCliOptions): Promise<void> {
  if (plan.skippedDeleted.length > 0 && !opts.json) {
    const side = plan.direction === "to" ? "the destination" : "this side";
    warn(ctx, `skipped ${runCount(plan.skippedDeleted.length)} deleted on ${side} (name a run to copy it anyway)`);
  }
  const rows: TransferPreviewRow[] = plan.runs.map((p) => ({
    id: p.run.id,
    name: p.run.name,
    operation: p.run.operation,
    label: p.run.label ?? "",
    what: describeRun(p),
    bytes: p.bytes,
    files: p.files.length,
  }));
  await runTransfer(ctx, opts, {
    action: `copy ${runCount(rows.length)} ${plan.direction} ${plan.where}`,
    rows,
    nothingMessage: nothingMessage("copied"),
    async execute(progress) {
      const result = await executeCopy(plan, {
        onProgress: (e) => {
          if (e.type === "file") progress.advance(1, e.bytes);
        },
      });
      // Python Gage leaves one empty line on stdout (its transient status display); scripts
      // that compare output with Gage's see the same.
      if (!opts.json) ctx.stdout.write("\n");
      return result;
    },
    summary: (result) => transferSummary("Copied", result.copied.length, { upToDate: result.upToDate.length }),
    json: (result) => ({ dryRun: result === undefined && rows.length > 0, ...(result ?? copyResult(plan)) }),
  });
}
