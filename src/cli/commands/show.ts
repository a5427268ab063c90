import type { Command } from "commander";
import { dirname } from "node:path";
import { readRunDetails } from "../../runs/details.js";
import { runComments } from "../../runs/ops.js";
import { readProjectRef } from "../../runs/project-ref.js";
import type { CliContext } from "../context.js";
import { runJson, selectOne } from "../run-selection.js";
import { colors, renderTable } from "../table.js";
import { formatBytes } from "../transfer-ui.js";
import { outputStyle } from "../terminal.js";
import { formatDateTime } from "../time-format.js";

const FILE_TYPES: Record<string, string> = { s: "source code", d: "dependency", r: "runtime", g: "generated" };
const FILE_TYPE_ORDER = ["g", "d", "s", "r"];
export function registerShow(program: Command, ctx: CliContext): void {
  program
    .command("show")
    .summary("show a run")
    .description("Show a run (default: the newest): id, name, operation, status, times, project, attributes, comments and files.")
    .argument("[run]", "index, or id or name prefix")
    .option("-w, --where <expr>", "select from runs matching a filter (see 'gage ls --help')")
    .option("--json", "print as JSON")
    .action(async (spec: string | undefined, opts: { where?: string; json?: boolean }) => {
      const ir = await selectOne(ctx, spec, opts.where === undefined ? {} : { where: opts.where });
      const { run } = ir;
      const details = await readRunDetails(run);
      const project = await readProjectRef(run.paths.projectFile);
      const comments = runComments(run);
      const attrs = Object.fromEntries(Object.entries(run.attrs).filter(([k]) => k !== "label" && !k.startsWith("comment:")));
      if (opts.json) {
        ctx.stdout.write(
          JSON.stringify({ ...runJson(ir), projectDir: project ?? null, exitCode: details.exitCode ?? null, config: details.config, comments, files: details.files }, null, 2) + "\n",
        );
        return;
      }
      const style = outputStyle(ctx);
      const head = (s: string) => (style.color ? colors.yellow(s) : s);
      const out: string[] = [];
      const section = (title: string, rows: Array<[string, string]>) => {
        if (rows.length === 0) return;
        const w = Math.max(...rows.map(([k]) => k.length));
        out.push(head(title));
        for (const [k, v] of rows) out.push(`  ${(style.color ? colors.cyan : String)(k.padEnd(w))}  ${v}`);
        out.push("");
      };
      const time = (us: number | undefined) => (us === undefined ? "" : formatDateTime(us / 1000));
      out.push(`${run.operation}  ${run.status}${run.label ? `  ${run.label}` : ""}`, "");
      section("Attributes", [
        ["id", run.id],
        ["name", run.name],
        ["operation", run.operation],
        ["status", run.status],
        ["label", run.label ?? ""],
        ["started", time(run.timestamps.started)],
        ["stopped", time(run.timestamps.stopped)],
        ["location", dirname(run.paths.runDir)],
        ["project", project ?? ""],
        ["exit_code", details.exitCode === undefined ? "" : String(details.exitCode)],
        ...(run.deleted ? ([["deleted", "yes"]] as Array<[string, string]>) : []),
      ]);
      section("Configuration", Object.keys(details.config).sort().map((k) => [k, display(details.config[k])]));
      section("User attributes", Object.keys(attrs).sort().map((k) => [k, display(attrs[k])]));
      if (comments.length) {
        out.push(head("Comments"));
        for (const c of comments) {
          out.push(`  ${c.id}${c.timestamp === undefined ? "" : `  ${formatDateTime(c.timestamp)}`}`);
          for (const line of c.msg.split("\n")) out.push(`    ${line}`);
        }
        out.push("");
      }
      ctx.stdout.write(out.join("\n") + "\n");
      if (details.files.length) {
        const files = [...details.files].sort(
          (a, b) => FILE_TYPE_ORDER.indexOf(a.type) - FILE_TYPE_ORDER.indexOf(b.type) || a.path.localeCompare(b.path, undefined, { numeric: true }),
        );
        const total = files.reduce((n, f) => n + (f.size ?? 0), 0);
        ctx.stdout.write(head("Files") + "\n");
        ctx.stdout.write(
          renderTable(
            [{ header: "name" }, { header: "type" }, { header: "size", justify: "right" }],
            files.map((f) => [f.path, FILE_TYPES[f.type] ?? `unknown (${f.type})`, f.size === undefined ? "missing" : formatBytes(f.size)]),
            style,
            { caption: `${files.length} ${files.length === 1 ? "file" : "files"}, total ${formatBytes(total)}` },
          ),
        );
      }
    });
}

function display(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}
