import type { Command } from "commander";
import { homedir } from "node:os";
import { ConfigError, UsageError } from "../../errors.js";
import { gitRemoteSpec } from "../../sync/remote.js";
import { planPull } from "../../sync/pull.js";
import { planPush } from "../../sync/push.js";
import { copyResult, describeRun, executeCopy, planCopy, type CopyPlan } from "../../sync/copy/index.js";
import { cliRunsDir, warn, type CliContext } from "../context.js";
import { runCount } from "../run-selection.js";
import { parseOnly, transferOptions, type TransferCliOptions } from "../transfer-options.js";
import { formatBytes, nothingMessage, plural, runTransfer, transferSummary, whilePlanning, type TransferPreviewRow } from "../transfer-ui.js";
import { runSyncPlan, syncOptions } from "./push.js";

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
      if (await copyGit(ctx, direction, (opts.to ?? opts.from)!, specs, opts)) return;
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

/**
 * `copy --to/--from` a Git remote: its branch is a plain runs directory already, so the copy is a
 * push or pull of the named runs (with the same preview, progress and summary). False when the
 * other side is no Git remote.
 */
async function copyGit(ctx: CliContext, direction: "to" | "from", target: string, specs: string[], opts: CopyCliOptions): Promise<boolean> {
  let git;
  try {
    git = await gitRemoteSpec({ runsDir: cliRunsDir(ctx), remote: target, cwd: ctx.cwd, env: ctx.env, home: ctx.env.HOME || homedir() });
  } catch (err) {
    // A bare word that names no remote is a folder here: the copy reads it so.
    if (err instanceof ConfigError) return false;
    throw err;
  }
  if (git === undefined) return false;
  if (specs.length === 0 && !opts.all && opts.where === undefined) throw new UsageError("Specify runs to copy or use '--all'.", { hint: "Try 'gage ls' to list runs." });
  const sync = syncOptions(ctx, target, specs, opts);
  const verbs = { verb: "copy", past: "Copied", direction };
  if (direction === "to") {
    await runSyncPlan(ctx, await whilePlanning(ctx, opts, `Comparing local runs with ${target}`, () => planPush(sync)), opts, verbs, (r) => (r.objects > 0 ? [formatBytes(r.bytes), plural(r.objects, "object")] : []));
  } else {
    await runSyncPlan(ctx, await whilePlanning(ctx, opts, `Comparing local runs with ${target}`, () => planPull(sync)), opts, verbs, (r) => (r.files > 0 ? [formatBytes(r.bytes), plural(r.files, "file")] : []));
  }
  return true;
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
