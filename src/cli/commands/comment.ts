import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { readRunComments } from "../../runs/details.js";
import { addComment, runComments } from "../../runs/ops.js";
import { appendUserLog } from "../../runs/user-log.js";
import { assertCanAsk, confirmOrCancel } from "../confirm.js";
import { cliAuthor, type CliContext } from "../context.js";
import { confirmRunsChange, findOne, findRuns, runCount, selectForChange } from "../run-selection.js";
import { printable, printableLines } from "../printable.js";
import { renderCommentPanel } from "../run-panels.js";
import { outputStyle } from "../terminal.js";

interface CommentOptions {
  message?: string;
  list?: boolean;
  delete?: string;
  all?: boolean;
  where?: string;
  yes?: boolean;
}

export function registerComment(program: Command, ctx: CliContext): void {
  program
    .command("comment")
    .summary("add, list or delete run comments")
    .description(
      "Add a comment to runs (-m), list their comments (--list), or delete one (--delete ID).\n" +
        "Comments are entries in each run's user log (ID.user/), as labels are.",
    )
    .argument("[run...]", "runs: index, slice, or id or name prefix")
    .option("-m, --message <text>", "the comment to add")
    .option("-l, --list", "list comments (default run: the newest)")
    .option("-d, --delete <comment-id>", "delete a comment of one run")
    .option("-a, --all", "all runs (after --where)")
    .option("-w, --where <expr>", "only runs matching a filter (see 'gage ls --help')")
    .option("-y, --yes", "do not ask for confirmation")
    .action(async (specs: string[], opts: CommentOptions) => {
      const modes = [opts.message !== undefined, opts.list, opts.delete !== undefined].filter(Boolean).length;
      if (modes !== 1) {
        throw new UsageError("Specify one of '-m TEXT', '--list' or '--delete ID'", { hint: "Try 'gage comment --help' for help." });
      }
      const where = opts.where === undefined ? {} : { where: opts.where };
      const change = () => ({ author: cliAuthor(ctx), nowMs: ctx.now().getTime() });

      if (opts.list) {
        const runs = specs.length || opts.all ? await findRuns(ctx, specs, where) : [await findOne(ctx, undefined, where)];
        const style = outputStyle(ctx);
        for (const run of runs) {
          for (const c of await readRunComments(run)) ctx.stdout.write(renderCommentPanel(run, c, style));
        }
        return;
      }

      if (opts.delete !== undefined) {
        if (specs.length > 1 || opts.all) throw new UsageError("Only one run can be specified with '-d/--delete'");
        const run = await findOne(ctx, specs[0], where);
        const comment = runComments(run).find((c) => c.id === opts.delete);
        if (!comment) {
          throw new UsageError(`Cannot find comment '${opts.delete}' for run '${run.name}'`, {
            hint: `Try 'gage comment --list ${run.name}' to show its comments.`,
          });
        }
        if (!opts.yes) {
          assertCanAsk(ctx);
          ctx.stderr.write(`${run.name} ${printable(comment.id)}\n${printableLines(comment.msg)}\n\nYou are about to delete this comment.\n\n`);
        }
        await confirmOrCancel(ctx, "Continue?", { yes: opts.yes ?? false, default: false });
        await appendUserLog(run.paths.userDir, { delete: [`comment:${comment.id}`] }, change());
        ctx.stderr.write(`Deleted comment ${comment.id} from run ${run.name}\n`);
        return;
      }

      const msg = opts.message!.trim();
      if (!msg) throw new UsageError("Nothing added: the comment is empty");
      const selected = await selectForChange(ctx, specs, { verb: "comment on", all: opts.all ?? false, ...where });
      await confirmRunsChange(ctx, selected, {
        yes: opts.yes ?? false,
        message: `You are about to add a comment to ${runCount(selected.runs.length)}.`,
      });
      for (const run of selected.runs) await addComment(run, msg, change());
      const to = selected.runs.length === 1 ? `run ${selected.runs[0]!.name}` : runCount(selected.runs.length);
      ctx.stderr.write(`Added comment to ${to}\n`);
    });
}
