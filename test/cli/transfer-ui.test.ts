import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import type { CliContext } from "../../src/cli/context.js";
import {
  formatBytes,
  nothingMessage,
  plural,
  renderTransferPreview,
  runTransfer,
  transferSummary,
  whilePlanning,
  type TransferFlow,
  type TransferPreviewRow,
} from "../../src/cli/transfer-ui.js";
import { CancelledError } from "../../src/errors.js";

function context(opts: { tty?: boolean; input?: string; columns?: string } = {}) {
  const out = { stdout: "", stderr: "" };
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on("data", (d) => (out.stdout += d));
  stderr.on("data", (d) => (out.stderr += d));
  const stdin = new PassThrough() as PassThrough & { isTTY?: boolean };
  if (opts.tty) stdin.isTTY = true;
  if (opts.input !== undefined) stdin.end(opts.input);
  const ctx: CliContext = { env: { COLUMNS: opts.columns ?? "80", TERM: "unknown" }, cwd: "/", stdin, stdout, stderr, now: () => new Date(), exitCode: 0, onInterrupt: () => () => {} };
  return { ctx, out };
}

const rows: TransferPreviewRow[] = [
  { id: "882cb503-0000-4000-8000-000000000000", name: "mobos-rihag", operation: "hello:hello", label: "Something", what: "new", bytes: 5_242_880, files: 23 },
];

function flow(calls: string[]): TransferFlow<number> {
  return {
    action: "copy 1 run to /somewhere",
    rows,
    nothingMessage: nothingMessage("copied"),
    async execute(progress) {
      calls.push("execute");
      progress.advance(23, 5_242_880);
      return 1;
    },
    summary: (n) => transferSummary("Copied", n),
    json: (n) => ({ copied: n ?? 0 }),
  };
}

test("formats sizes, counts and summaries as Gage does", () => {
  assert.equal(formatBytes(999), "999 B");
  assert.equal(formatBytes(5_242_880), "5.2 MB");
  assert.equal(formatBytes(41_200_000), "41.2 MB");
  assert.equal(plural(1, "run"), "1 run");
  assert.equal(plural(1204, "object"), "1,204 objects");
  assert.equal(transferSummary("Copied", 1), "Copied 1 run");
  assert.equal(
    transferSummary("Pushed", 3, { details: ["41.2 MB", "1,204 objects"], upToDate: 2 }),
    "Pushed 3 runs (41.2 MB, 1,204 objects; 2 runs already up to date)",
  );
  assert.equal(nothingMessage("copied"), "Nothing copied, runs are up-to-date");
});

test("-y executes without a prompt and prints the summary on stderr", async () => {
  const { ctx, out } = context();
  const calls: string[] = [];
  assert.equal(await runTransfer(ctx, { yes: true }, flow(calls)), 1);
  assert.deepEqual(calls, ["execute"]);
  assert.equal(out.stderr, "Copied 1 run\n");
  assert.equal(out.stdout, "");
});

test("without -y and without a TTY it asks for -y and never executes", async () => {
  const { ctx } = context();
  const calls: string[] = [];
  await assert.rejects(runTransfer(ctx, {}, flow(calls)), (err: Error & { code?: string; hint?: string }) => {
    assert.equal(err.code, "USAGE");
    assert.match(err.hint ?? "", /-y/);
    return true;
  });
  assert.deepEqual(calls, []);
});

test("on a TTY it shows the preview and asks; 'n' cancels, Enter proceeds", async () => {
  const declined = context({ tty: true, input: "n\n" });
  const calls: string[] = [];
  await assert.rejects(runTransfer(declined.ctx, {}, flow(calls)), CancelledError);
  assert.deepEqual(calls, []);
  assert.match(declined.out.stderr, /You are about to copy 1 run to \/somewhere:/);
  assert.match(declined.out.stderr, /\| 1 \| mobos \| hello:hello \| Something \| new  \| 5\.2 MB \|/);
  assert.match(declined.out.stderr, /Continue\? \(Y\/n\) $/);

  const accepted = context({ tty: true, input: "\n" });
  assert.equal(await runTransfer(accepted.ctx, {}, flow(calls)), 1);
  assert.deepEqual(calls, ["execute"]);
});

test("--dry-run shows the preview on stdout and moves nothing; --json prints one document", async () => {
  const dry = context();
  const calls: string[] = [];
  assert.equal(await runTransfer(dry.ctx, { dryRun: true }, flow(calls)), undefined);
  assert.deepEqual(calls, []);
  assert.match(dry.out.stdout, /^Would copy 1 run to \/somewhere:\n *\n\| # \| run   \| operation/);
  assert.match(dry.out.stdout, /1 run, 23 files, 5\.2 MB\n$/);

  const json = context();
  await runTransfer(json.ctx, { yes: true, json: true }, flow(calls));
  assert.deepEqual(JSON.parse(json.out.stdout), { copied: 1 });
  assert.equal(json.out.stderr, "");
});

test("an empty plan prints the nothing-to-do message", async () => {
  const { ctx, out } = context();
  const calls: string[] = [];
  assert.equal(await runTransfer(ctx, { yes: true }, { ...flow(calls), rows: [] }), undefined);
  assert.equal(out.stderr, "Nothing copied, runs are up-to-date\n");
  assert.deepEqual(calls, []);
});

test("the progress bar shows on a TTY only, and is gone when the transfer ends", async () => {
  const tty = context();
  (tty.ctx.stderr as PassThrough & { isTTY?: boolean }).isTTY = true;
  await runTransfer(tty.ctx, { yes: true }, flow([]));
  assert.match(tty.out.stderr, /23\/23 files \| 5\.2 MB\/5\.2 MB/);
  assert.match(tty.out.stderr, /Copied 1 run\n$/);

  const plain = context();
  await runTransfer(plain.ctx, { yes: true }, flow([]));
  assert.equal(plain.out.stderr, "Copied 1 run\n");
});

test("a narrow preview narrows the free-text columns, never the index, name or size", async () => {
  const { ctx } = context({ columns: "50" });
  const wide: TransferPreviewRow = { ...rows[0]!, operation: "a-long-project:train-model", label: "A label far too long for fifty columns" };
  const lines = (await renderTransferPreview([wide], ctx)).split("\n");
  const row = lines.find((l) => l.startsWith("| 1 "));
  assert.ok(row, lines.join("\n"));
  assert.ok(row.length <= 50, row);
  assert.match(row, /^\| 1 \| mobos \| a.*… \| A.*… \| new +\| 5\.2 MB \|$/);
});

test("planning shows a status line on a terminal and clears it, even when planning fails", async () => {
  const tty = context();
  (tty.ctx.stderr as PassThrough & { isTTY?: boolean }).isTTY = true;
  assert.equal(await whilePlanning(tty.ctx, {}, "Comparing local runs with /r", async () => 7), 7);
  assert.equal(tty.out.stderr, "Comparing local runs with /r…\r\x1b[K");
  await assert.rejects(whilePlanning(tty.ctx, {}, "Again", async () => Promise.reject(new CancelledError())), CancelledError);
  assert.ok(tty.out.stderr.endsWith("Again…\r\x1b[K"));

  const piped = context();
  await whilePlanning(piped.ctx, {}, "Comparing", async () => 1);
  const json = context();
  (json.ctx.stderr as PassThrough & { isTTY?: boolean }).isTTY = true;
  await whilePlanning(json.ctx, { json: true }, "Comparing", async () => 1);
  assert.equal(piped.out.stderr + json.out.stderr, "", "no status line off a terminal or with --json");
});

test("a preview of 100,000 runs shows a screenful, then how many more and the totals; --verbose lists them all", async () => {
  let labelsRead = 0;
  const many: TransferPreviewRow[] = Array.from({ length: 100_000 }, (_, i) => ({
    id: `${i.toString(16).padStart(8, "0")}-0000-4000-8000-000000000000`,
    operation: "proj:train",
    get label() {
      labelsRead++;
      return `run ${i + 1}`;
    },
    what: "new",
    bytes: 1_000,
    files: 8,
  }));
  const dry = context();
  await runTransfer(dry.ctx, { dryRun: true }, { ...flow([]), action: "push 100,000 runs to /r", rows: many });
  const tableRows = dry.out.stdout.split("\n").filter((l) => /^\| \d/.test(l));
  assert.equal(tableRows.length, 20);
  assert.match(tableRows[19]!, /^\| 20 \| 00000 \| proj:train \| run 20 +\| new +\| 1\.0 kB \|$/);
  assert.match(dry.out.stdout, /\n… and 99,980 more runs \(--verbose lists them all\)\n100,000 runs, 800,000 files, 100\.0 MB\n$/);
  // Only the rows shown were made into table cells.
  assert.equal(labelsRead, 20);

  const verbose = context();
  await runTransfer(verbose.ctx, { dryRun: true, verbose: true }, { ...flow([]), rows: many.slice(0, 500) });
  assert.equal(verbose.out.stdout.split("\n").filter((l) => /^\| \d/.test(l)).length, 500);
  assert.doesNotMatch(verbose.out.stdout, /more runs/);
  assert.match(verbose.out.stdout, /\n500 runs, 4,000 files, 500\.0 kB\n$/);

  const few = context();
  await runTransfer(few.ctx, { dryRun: true }, { ...flow([]), rows: many.slice(0, 20) });
  assert.equal(few.out.stdout.split("\n").filter((l) => /^\| \d/.test(l)).length, 20);
  assert.doesNotMatch(few.out.stdout, /more runs/);
});
