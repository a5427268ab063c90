import type { Command } from "commander";
import { homedir } from "node:os";
import { listRemoteRunsCounted } from "../../sync/remote-runs.js";
import { status, STATUS_REMOTE_ONLY_ROWS } from "../../sync/status.js";
import type { IndexedRun } from "../run-selection.js";
import { cliRunsDir, warn, type CliContext } from "../context.js";
import { renderTable } from "../table.js";
import { outputStyle } from "../terminal.js";
import { plural, whilePlanning } from "../transfer-ui.js";
import { splitRemoteArgs, syncOptions } from "./push.js";

interface StatusCliOptions {
  where?: string;
  all?: boolean;
  json?: boolean;
}

export function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command("status")
    .summary("compare runs with a remote")
    .description(
      "Show, per run, how the runs directory compares with a remote: local-only, remote-only, " +
        "ahead (push sends it), behind (pull fetches it), diverged (both changed) or in sync. " +
        "Reads only the remote's heads, never its files. Runs only on the remote are counted, and " +
        `the first ${STATUS_REMOTE_ONLY_ROWS} of them shown (--all or naming runs shows every one; --json gives ` +
        "only their count without them).",
    )
    .argument("[remote]", "remote name, URL or path (default: the runs directory's default remote)")
    .argument("[run...]", "runs to compare")
    .option("-w, --where <expr>", "compare runs matching a filter (as gage ls)")
    .option("-a, --all", "list every run only on the remote, not only the first screenful")
    .option("--json", "print the result as JSON: rows of runs only on the remote with --all, else their count (remoteOnly)")
    .action(async (first: string | undefined, more: string[], opts: StatusCliOptions) => {
      const { remote, specs } = await splitRemoteArgs(ctx, [...(first === undefined ? [] : [first]), ...more]);
      const sync = { ...syncOptions(ctx, remote, specs, opts), remoteOnlyRows: opts.all || specs.length > 0 ? Infinity : opts.json ? 0 : STATUS_REMOTE_ONLY_ROWS };
      const result = await whilePlanning(ctx, opts, `Comparing local runs with ${remote ?? "the default remote"}`, () => status(sync));
      if (opts.json) {
        ctx.stdout.write(JSON.stringify(result, null, 2) + "\n");
        return;
      }
      const hidden = result.remoteOnlyOmitted;
      const shown = result.remoteOnly - hidden;
      const rows = result.runs.map((r, i) => [String(i + 1), r.name.slice(0, 5), r.operation, r.state, r.label]);
      ctx.stdout.write(
        renderTable(
          [{ header: "#", justify: "right" }, { header: "name" }, { header: "operation" }, { header: "status" }, { header: "label", ratio: 1 }],
          rows,
          outputStyle(ctx),
        ),
      );
      if (hidden > 0) ctx.stdout.write(`… and ${plural(hidden, shown > 0 ? "more run" : "run", shown > 0 ? "more runs" : "runs")} only on the remote (--all lists them)\n`);
    });
}

/**
 * `gage ls --remote REMOTE`: the remote's runs from its heads (no files fetched), indexed as `ls`
 * shows them; with `first`, only the first ones (`total` counts them all).
 */
export async function remoteIndexedRuns(ctx: CliContext, remote: string, where: string | undefined, first?: number): Promise<{ runs: IndexedRun[]; total: number }> {
  const sync = {
    runsDir: cliRunsDir(ctx),
    remote,
    ...(where === undefined ? {} : { where }),
    cwd: ctx.cwd,
    env: ctx.env,
    home: ctx.env.HOME || homedir(),
    onWarning: (m: string) => warn(ctx, m),
    ...(first === undefined ? {} : { first }),
  };
  const { runs, total } = await listRemoteRunsCounted(sync);
  return { runs: runs.map((run, i) => ({ index: i + 1, run })), total };
}
