import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { UsageError } from "../../errors.js";
import { loadRuns, writeRunsTable, runJson, selectFrom } from "../run-selection.js";
import { remoteIndexedRuns } from "./status.js";

interface LsOptions {
  limit?: string;
  more: number;
  all?: boolean;
  where?: string;
  deleted?: boolean;
  simplified?: boolean;
  json?: boolean;
  remote?: string;
}

const DEFAULT_LIMIT = 20;

export function registerLs(program: Command, ctx: CliContext): void {
  program
    .command("ls")
    .aliases(["list", "runs"])
    .summary("list runs")
    .description(
      "List runs, newest first.\n\n" +
        "By default the latest 20 runs are shown: use -m (repeatable) or -n to show more, -a for all.\n" +
        "RUN may be an index (1 is the newest), a slice a:b, or a prefix of a run id or name.",
    )
    .argument("[run...]", "runs to list")
    .option("-n, --limit <max>", `show at most <max> runs (default ${DEFAULT_LIMIT})`)
    .option("-m, --more", "show more runs (repeat for more)", (_v: string, prev: number) => prev + 1, 0)
    .option("-a, --all", "show all runs")
    .option("-w, --where <expr>", "show runs matching a filter: words match the operation, status or label; NAME=VALUE, NAME!=VALUE, NAME~TEXT match fields and attributes")
    .option("-d, --deleted", "show deleted runs")
    .option("-s, --simplified", "only the #, operation, status and label columns")
    .option("--json", "print runs as JSON")
    .option("--remote <remote>", "list a remote's runs (from its heads, without fetching files)")
    .action(async (specs: string[], opts: LsOptions) => {
      if (opts.all && opts.limit !== undefined) throw new UsageError("--all and --limit cannot be used together");
      const limit = opts.limit === undefined ? DEFAULT_LIMIT : Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 0) throw new UsageError(`--limit must be a whole number, got '${opts.limit}'`);
      // A remote's first page alone: its rows are all that is fetched of a large remote.
      const first = specs.length === 0 && !opts.all && opts.where === undefined ? (opts.more + 1) * limit : undefined;
      const remote = opts.remote === undefined ? undefined : await remoteIndexedRuns(ctx, opts.remote, opts.where, first);
      const listing = remote?.runs ?? (await loadRuns(ctx, { deleted: opts.deleted ?? false, ...(opts.where === undefined ? {} : { where: opts.where }) }));
      const total = remote?.total ?? listing.length;
      const selected = selectFrom(listing, specs);
      const shown = opts.all ? selected : selected.slice(0, (opts.more + 1) * limit);
      if (opts.json) {
        ctx.stdout.write(JSON.stringify(shown.map(runJson), null, 2) + "\n");
        return;
      }
      // As Gage: counted against every run listed (after --where), so a selection says what it hides.
      let caption: string | undefined;
      if (shown.length < total) {
        caption = `Showing ${shown.length} of ${total} runs`;
        if (specs.length === 0) caption += ` (use -${"m".repeat(opts.more + 1)} to show more)`;
      }
      writeRunsTable(ctx, shown, {
        simplified: opts.simplified ?? false,
        deleted: opts.deleted ?? false,
        ...(caption === undefined ? {} : { caption }),
      });
    });
}
