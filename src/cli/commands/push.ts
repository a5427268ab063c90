import type { Command } from "commander";
import { homedir } from "node:os";
import { listRemotes } from "../../remotes/config.js";
import { readDefaultRemote } from "../../sync/index.js";
import { planPush } from "../../sync/push.js";
import { setDefaultRemote } from "../../sync/remote.js";
import type { PlannedRun, SyncOptions, TransferPlan } from "../../sync/session.js";
import { cliRunsDir, warn, type CliContext } from "../context.js";
import { exitCodeFor } from "../exit-codes.js";
import { formatBytes, nothingMessage, plural, runTransfer, transferSummary, whilePlanning, type TransferProgress } from "../transfer-ui.js";
import { parseOnly, transferOptions, type TransferCliOptions } from "../transfer-options.js";

/** Looks like a URL, scp-style address or path rather than a run spec. */
function looksLikeRemote(arg: string): boolean {
  return /[/:\\~]/.test(arg) || arg.startsWith(".");
}

/**
 * `[REMOTE] [RUN...]`: the first argument is the remote when it is a configured remote name, looks
 * like a URL or path, or when the runs directory has no default remote; otherwise every argument
 * is a run spec.
 */
export async function splitRemoteArgs(ctx: CliContext, args: string[]): Promise<{ remote?: string; specs: string[] }> {
  const [first, ...rest] = args;
  if (first === undefined) return { specs: [] };
  const named = async () => (await listRemotes({ cwd: ctx.cwd, env: ctx.env, home: ctx.env.HOME || homedir() })).some((r) => r.name === first);
  if (looksLikeRemote(first) || (await readDefaultRemote(cliRunsDir(ctx))) === undefined || (await named())) return { remote: first, specs: rest };
  return { specs: args };
}

/** `gage remote default [NAME]`: shows or sets the runs directory's default remote. */
export function registerRemoteDefault(remote: Command, ctx: CliContext): void {
  remote
    .command("default")
    .summary("show or set the runs directory's default remote")
    .description(
      "The default remote is what push, pull and status use when no remote is named. clone sets it to " +
        "the remote cloned from; this command shows it, or sets it to a configured name, a URL or a path.",
    )
    .argument("[remote]", "remote name, URL or path")
    .action(async (target: string | undefined) => {
      const runsDir = cliRunsDir(ctx);
      if (target === undefined) {
        const current = await readDefaultRemote(runsDir);
        ctx.stdout.write(current === undefined ? `No default remote for ${runsDir}\n` : `${current}\n`);
        return;
      }
      const recorded = await setDefaultRemote(runsDir, target, { cwd: ctx.cwd, env: ctx.env, home: ctx.env.HOME || homedir() });
      ctx.stderr.write(`Default remote for ${runsDir} is ${recorded}\n`);
    });
}

export function syncOptions(ctx: CliContext, remote: string | undefined, specs: string[], opts: TransferCliOptions): SyncOptions {
  return {
    runsDir: cliRunsDir(ctx),
    ...(remote === undefined ? {} : { remote }),
    runs: specs,
    ...(opts.where === undefined ? {} : { where: opts.where }),
    ...(opts.only === undefined ? {} : { only: parseOnly(opts.only) }),
    force: opts.force ?? false,
    cwd: ctx.cwd,
    env: ctx.env,
    home: ctx.env.HOME || homedir(),
    now: () => ctx.now().getTime(),
    ...(ctx.startedSums === undefined ? {} : { startedSums: ctx.startedSums }),
    onWarning: (m) => warn(ctx, m),
  };
}

export interface SyncVerbs {
  /** `push` */
  verb: string;
  /** `Pushed` */
  past: string;
  /** `to` or `from` */
  direction: string;
}

/** Preview, confirmation, progress and summary for a planned push or pull. */
export async function runSyncPlan<R extends { runs: PlannedRun[]; upToDate: number }>(
  ctx: CliContext,
  plan: TransferPlan<R>,
  opts: TransferCliOptions,
  verbs: SyncVerbs,
  details: (result: R) => string[],
): Promise<R | undefined> {
  try {
    const result = await runTransfer(ctx, opts, {
      action: `${verbs.verb} ${plural(plan.runs.length, "run")} ${verbs.direction} ${plan.remote}`,
      rows: plan.runs,
      nothingMessage: plan.conflicts ? `Nothing ${verbs.past.toLowerCase()}: every other run is up-to-date` : nothingMessage(verbs.past.toLowerCase()),
      execute: (progress: TransferProgress) =>
        plan.execute((e) => {
          if (e.total) progress.setTotal(e.total);
          if (e.phase !== "scan" && (e.files > 0 || e.bytes > 0)) progress.advance(e.files, e.bytes);
        }),
      summary: (result) => transferSummary(verbs.past, result.runs.length, { details: details(result), upToDate: result.upToDate }),
      json: (result) => ({
        remote: plan.remote,
        dryRun: result === undefined && plan.runs.length > 0,
        upToDate: plan.upToDate,
        runs: plan.runs,
        result: result ?? null,
        ...(plan.conflicts ? { conflicts: plan.conflicts.conflicts } : {}),
      }),
    });
    // Diverged runs were left out and every other run moved: report them after the rest.
    if (plan.conflicts) {
      if (!opts.json) throw plan.conflicts;
      ctx.exitCode = exitCodeFor(plan.conflicts.code);
    }
    return result;
  } finally {
    await plan.close();
  }
}

export function registerPush(program: Command, ctx: CliContext): void {
  transferOptions(
    program
      .command("push")
      .summary("send runs to a remote")
      .description(
        "Send runs to a remote's content-addressed store (a path, file://, s3://BUCKET/PREFIX, " +
          "ssh://HOST/PATH, USER@HOST:PATH, or a configured remote name), or to a Git repository's " +
          "gage-runs branch (git+https://HOST/PATH, git+file:///PATH or a bare repository's path; " +
          "see docs/git-remotes.md). With no REMOTE, the runs " +
          "directory's default remote (set by clone or 'gage remote default NAME'); with no RUN, all runs.\n\n" +
          "Only what the remote lacks is sent. ID.project is never sent; nothing is deleted on the remote; " +
          "runs deleted here are pushed only when named. User attributes merge with the remote's.",
      )
      .argument("[remote]", "remote name, URL or path")
      .argument("[run...]", "runs to push: index, slice a:b, or id or name prefix"),
    { verb: "push", participle: "pushed", allByDefault: true, force: "when a run diverged, keep this side's files and metadata (user attributes still merge)" },
  ).action(async (first: string | undefined, more: string[], opts: TransferCliOptions) => {
    const { remote, specs } = await splitRemoteArgs(ctx, [...(first === undefined ? [] : [first]), ...more]);
    const sync = syncOptions(ctx, remote, specs, opts);
    const plan = await whilePlanning(ctx, opts, `Comparing local runs with ${remote ?? "the default remote"}`, () => planPush(sync));
    await runSyncPlan(ctx, plan, opts, { verb: "push", past: "Pushed", direction: "to" }, (r) =>
      r.objects > 0 ? [formatBytes(r.bytes), plural(r.objects, "object")] : [],
    );
  });
}
