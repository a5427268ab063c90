import type { Command } from "commander";
import { homedir } from "node:os";
import { verify, type VerifyProblem, type VerifyProgressEvent, type VerifyResult } from "../../sync/verify.js";
import { cliRunsDir, warn, type CliContext } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { createTransferProgress, formatBytes, plural, type TransferProgress } from "../transfer-ui.js";
import { splitRemoteArgs } from "./push.js";

interface VerifyCliOptions {
  readData?: boolean;
  readDataSubset?: string;
  local?: boolean;
  json?: boolean;
}

// Runs a problem line names; the JSON lists them all.
const SHOWN_RUNS = 5;

/** `damaged: MESSAGE (runs 87bd998b, 0dcb788a). HINT`: one line per problem. */
export function problemLine(p: VerifyProblem): string {
  const ids = p.runs.slice(0, SHOWN_RUNS).map((id) => id.slice(0, 8));
  const more = p.runs.length > SHOWN_RUNS ? ` and ${p.runs.length - SHOWN_RUNS} more` : "";
  const runs = p.runs.length === 0 ? "" : ` (${p.runs.length === 1 ? "run" : `${p.runs.length} runs:`} ${ids.join(", ")}${more})`;
  return `${p.severity}: ${p.message}${runs}. ${p.hint}`;
}

/** `Checked 3 runs in /srv/store: 2 heads, 1 catalog, 4 packs, 1,204 objects; no problems`. */
export function verifySummary(r: VerifyResult): string {
  const c = r.counts;
  const what =
    r.mode === "local"
      ? `${plural(c.files, "file")} (${formatBytes(c.fileBytes)}) against their manifests`
      : [plural(c.heads, "head"), plural(c.catalogs, "catalog"), plural(c.packs, "pack"), plural(c.objects, "object")].join(", ") +
        (r.mode === "read-data"
          ? `; read ${plural(c.readObjects, "object")} (${formatBytes(c.readBytes)})${r.subset ? `, part ${r.subset.part}: ${r.subset.packs} of ${plural(r.subset.of, "pack")}` : ""}`
          : "");
  const found = r.problems.length === 0 ? "no problems" : problemCount(r.problems);
  return `Checked ${plural(c.runs, "run")} in ${r.target}: ${what}; ${found}`;
}

function problemCount(problems: readonly VerifyProblem[]): string {
  const by = (s: VerifyProblem["severity"]) => problems.filter((p) => p.severity === s).length;
  const parts = (["damaged", "missing", "notice"] as const).filter((s) => by(s) > 0).map((s) => `${by(s)} ${s}`);
  return `${plural(problems.length, "problem")} (${parts.join(", ")})`;
}

/** A status line while indexes and trees are read (no totals), a bar once data or files are hashed. */
function verifyProgress(ctx: CliContext, enabled: boolean): { onProgress: (e: VerifyProgressEvent) => void; stop: () => void } {
  const tty = enabled && ctx.stderr.isTTY === true;
  let bar: TransferProgress | undefined;
  let status: string | undefined;
  const clearStatus = () => {
    if (status !== undefined) ctx.stderr.write("\r\x1b[K");
    status = undefined;
  };
  return {
    onProgress: (e) => {
      if (!tty) return;
      if (e.phase === "index" || e.phase === "structure") {
        const text = e.phase === "index" ? "Reading pack indexes…" : "Checking trees…";
        if (status !== text) {
          bar?.stop();
          bar = undefined;
          clearStatus();
          ctx.stderr.write(text);
          status = text;
        }
        return;
      }
      if (e.total) {
        clearStatus();
        bar?.stop();
        bar = createTransferProgress(ctx, { unit: e.phase === "files" ? "files" : "objects", total: { files: e.total.items, bytes: e.total.bytes } });
      }
      bar?.advance(e.items, e.bytes);
    },
    stop: () => {
      clearStatus();
      bar?.stop();
    },
  };
}

export function registerVerify(program: Command, ctx: CliContext): void {
  program
    .command("verify")
    .summary("check that a remote (or the runs directory) holds its runs whole")
    .description(
      "Check a remote's store and report every problem: each head and catalog decodes and matches its " +
        "name; every object the runs reach (trees, chunk lists, files) is listed by a pack index and lies " +
        "inside its pack; trees and chunk lists hash to their ids; packs without an index and indexes " +
        "without a pack. --read-data also reads and hashes every object the runs reach; --read-data-subset " +
        "reads a fixed part of the packs, so that a nightly job can cycle through a large store. --local " +
        "checks the runs directory instead: finished runs' files against their manifests, meta, user logs.\n\n" +
        "Nothing is changed, here or on the remote. Exit status: 0 no problems, 3 missing data, 6 damaged data. " +
        "With no REMOTE, the runs directory's default remote; with no RUN, all runs.",
    )
    .argument("[remote]", "remote name, URL or path (with --local: a run)")
    .argument("[run...]", "runs to check: index, slice a:b, or id or name prefix")
    .option("--read-data", "also read and hash every object the runs reach")
    .option("--read-data-subset <part>", "read only part of the packs: n/m (e.g. 1/5, the first of five parts) or a percentage (10%)")
    .option("--local", "check the runs directory, not a remote")
    .option("--json", "print the result as JSON")
    .action(async (first: string | undefined, more: string[], opts: VerifyCliOptions) => {
      const args = [...(first === undefined ? [] : [first]), ...more];
      const { remote, specs } = opts.local ? { remote: undefined, specs: args } : await splitRemoteArgs(ctx, args);
      const progress = verifyProgress(ctx, !opts.json);
      const result = await verify({
        runsDir: cliRunsDir(ctx),
        ...(remote === undefined ? {} : { remote }),
        runs: specs,
        readData: opts.readData ?? false,
        ...(opts.readDataSubset === undefined ? {} : { readDataSubset: opts.readDataSubset }),
        local: opts.local ?? false,
        cwd: ctx.cwd,
        env: ctx.env,
        home: ctx.env.HOME || homedir(),
        onProgress: progress.onProgress,
        onWarning: (m) => warn(ctx, m),
      }).finally(progress.stop);
      if (opts.json) ctx.stdout.write(JSON.stringify(result, null, 2) + "\n");
      else {
        for (const p of result.problems) ctx.stdout.write(`${problemLine(p)}\n`);
        ctx.stderr.write(`${verifySummary(result)}\n`);
      }
      ctx.exitCode = result.status === "damaged" ? EXIT.integrity : result.status === "missing" ? EXIT.notFound : EXIT.ok;
    });
}
