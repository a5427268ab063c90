import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, before, describe, test } from "node:test";
import { confirm } from "../../src/cli/confirm.js";
import type { CliContext } from "../../src/cli/context.js";
import { main } from "../../src/cli/main.js";
import { renderRunsTable, writeRunsTable } from "../../src/cli/run-selection.js";
import { fit, renderTable, type TableColumn } from "../../src/cli/table.js";
import { formatDateTime, relativeTime } from "../../src/cli/time-format.js";
import { tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";

interface RichCase {
  width: number;
  columns: TableColumn[];
  rows: string[][];
  caption?: string;
  expand?: boolean;
  expected: string;
}

// Expected outputs rendered by Python's rich (see fixtures/rich-tables.py).
const RICH_CASES: RichCase[] = JSON.parse(readFileSync(new URL("./fixtures/rich-tables.json", import.meta.url), "utf8"));

test("tables match Python rich's layout on a plain terminal", () => {
  assert.ok(RICH_CASES.length >= 10);
  for (const c of RICH_CASES) {
    const got = renderTable(c.columns, c.rows, { width: c.width, plain: true, color: false }, {
      expand: c.expand ?? true,
      ...(c.caption ? { caption: c.caption } : {}),
    });
    assert.equal(got, c.expected, `width ${c.width}, ${c.columns.map((x) => x.header).join(" ")}`);
  }
});

test("cells cut to their column: ASCII by characters, wide text by display columns", () => {
  assert.equal(fit("abcdefgh", 5), "abcd…");
  assert.equal(fit("abcde", 5), "abcde");
  assert.equal(fit("ab", 5), "ab   ");
  assert.equal(fit("ab", 5, "right"), "   ab");
  assert.equal(fit("abc", 1), "…");
  assert.equal(fit("abcdefgh", 4, "left", ""), "abcd");
  assert.equal(fit("日本語テキスト", 5), "日本…");
  assert.equal(fit("日本語テキスト", 6), "日本 …");
  assert.equal(fit("aé日本", 4), "aé …");
});

test("a long runs table written in pieces is the table rendered whole", () => {
  const runs = Array.from({ length: 2345 }, (_, i) => ({
    index: i + 1,
    run: {
      id: i.toString(16).padStart(32, "0"),
      name: `r${i}-name`,
      paths: {} as never,
      opref: { ns: "proj", name: "train" },
      operation: "proj:train",
      status: i % 3 === 0 ? ("error" as const) : ("completed" as const),
      timestamps: { started: Date.UTC(2026, 10, 26) * 1000 - i * 1e9 },
      attrs: {},
      deleted: false,
      ...(i % 2 === 0 ? { label: `lr=0.${i} a label long enough to be cut at sixty columns, ${"x".repeat(i % 40)}` } : {}),
    },
  }));
  const { ctx, out } = fakeContext({});
  const writes: string[] = [];
  ctx.stdout.on("data", (d: Buffer) => writes.push(d.toString("utf8")));
  writeRunsTable(ctx, runs, { caption: "Showing all" });
  const whole = renderRunsTable(ctx, runs, { caption: "Showing all" });
  ctx.stdout.end();
  return new Promise<void>((resolve) =>
    ctx.stdout.on("end", () => {
      assert.equal(out.stdout, whole);
      assert.equal(whole.split("\n").length, 2345 + 6);
      assert.ok(writes.length >= 3, `written in ${writes.length} pieces`);
      resolve();
    }),
  );
});

test("relative times as Python human_readable.date_time", () => {
  const now = Date.UTC(2026, 10, 26, 12, 0, 0);
  const ago = (s: number) => relativeTime(now - s * 1000, now);
  assert.equal(ago(0), "now");
  assert.equal(ago(0.5), "now");
  assert.equal(ago(1), "a second ago");
  assert.equal(ago(9), "9 seconds ago");
  assert.equal(ago(60), "a minute ago");
  assert.equal(ago(125), "2 minutes ago");
  assert.equal(ago(3600), "an hour ago");
  assert.equal(ago(3 * 3600), "3 hours ago");
  assert.equal(ago(86400), "a day ago");
  assert.equal(ago(5 * 86400), "5 days ago");
  assert.equal(ago(31 * 86400), "a month ago");
  assert.equal(ago(70 * 86400), "2 months ago");
  assert.equal(ago(365 * 86400), "a year ago");
  assert.equal(ago(400 * 86400), "1 year, 1 month ago");
  assert.equal(ago(800 * 86400), "2 years ago");
  assert.equal(relativeTime(now + 5000, now), "5 seconds from now");
  assert.match(formatDateTime(now), /^11\/26\/26 \d\d:00:00$/);
});

/** An in-process CLI context with captured output and a controllable stdin. */
function fakeContext(env: NodeJS.ProcessEnv, opts: { tty?: boolean; input?: string; now?: Date } = {}) {
  const stdin = Object.assign(new PassThrough(), { isTTY: opts.tty ?? false });
  if (opts.input !== undefined) stdin.end(opts.input);
  const out = { stdout: "", stderr: "" };
  const stream = (key: "stdout" | "stderr") => {
    const s = new PassThrough();
    s.on("data", (d: Buffer) => (out[key] += d.toString("utf8")));
    return Object.assign(s, { isTTY: false });
  };
  const ctx: CliContext = {
    env: { TERM: "unknown", COLUMNS: "60", ...env },
    cwd: "/",
    stdin,
    stdout: stream("stdout"),
    stderr: stream("stderr"),
    now: () => opts.now ?? new Date(Date.UTC(2026, 10, 26, 8, 0, 0)),
    exitCode: 0,
    onInterrupt: () => () => {},
  };
  return { ctx, out };
}

describe("commands in process, on the fixture runs", () => {
  let tmp: ReturnType<typeof tempDir>;
  let runsDir: string;
  before(() => {
    tmp = tempDir();
    runsDir = unpackFixtureRuns(tmp.path);
  });
  after(() => tmp.cleanup());

  test("ls at 60 and 80 columns, with a fixed clock", async () => {
    let { ctx, out } = fakeContext({ GAGE_RUNS: runsDir });
    assert.equal(await main(["ls", "-n", "3"], ctx), 0);
    // Expected output rendered by Python rich from the same rows.
    const blank = " ".repeat(60);
    assert.equal(
      out.stdout,
      [
        blank,
        "| #  | name   | operation   | started          | status    |",
        "|----|--------|-------------|------------------|-----------|",
        "| 1  | muhoh  | proj:hello  |                  | staged    |",
        "| 2  | divah  | proj:hello  | 17 minutes ago   | completed |",
        "| 3  | fikij  | proj:hello  | 17 minutes ago   | completed |",
        blank,
        " Showing 3 of 9 runs (use -m to show more)                  ",
        "",
      ].join("\n"),
    );
    ({ ctx, out } = fakeContext({ GAGE_RUNS: runsDir, COLUMNS: "80" }));
    assert.equal(await main(["ls", "3:4"], ctx), 0);
    assert.deepEqual(out.stdout.split("\n").slice(1, 5), [
      "| # | name  | operation    | started        | status    | label                |",
      "|---|-------|--------------|----------------|-----------|----------------------|",
      "| 3 | fikij | proj:hello   | 17 minutes ago | completed | Grüße — 日本語 ✓     |",
      "| 4 | zuzar | proj:bigfile | 17 minutes ago | completed | Generated files      |",
    ]);
  });

  test("a confirmation on a TTY: yes applies, no cancels with 130", async () => {
    const env = { GAGE_RUNS: runsDir, USER: "carol", LOGNAME: "carol" };
    const userDir = join(runsDir, "55e771fb-8eb0-4cfd-88b5-8a25505e078e.user");
    let { ctx, out } = fakeContext(env, { tty: true, input: "n\n" });
    assert.equal(await main(["label", "jilol", "--set", "Nope"], ctx), 130);
    assert.match(out.stderr, /You are about to set the label of 1 run to "Nope"\.\n\nContinue\? \(Y\/n\) /);
    const before = await readdir(userDir);

    ({ ctx, out } = fakeContext(env, { tty: true, input: "\n" }));
    assert.equal(await main(["label", "jilol", "--set", "Yes"], ctx), 0);
    assert.match(out.stderr, /\| 7 +\| jilol/);
    assert.match(out.stderr, /Set label for 1 run\n$/);
    const added = (await readdir(userDir)).filter((n) => !before.includes(n));
    assert.equal(added.length, 1);
    assert.equal(await readFile(join(userDir, added[0]!), "utf8"), '{"author": "carol", "set": {"label": "Yes"}, "delete": []}');
  });

  test("confirm: asks again on a bad answer, end of input is no, -y never reads", async () => {
    let { ctx, out } = fakeContext({}, { tty: true, input: "maybe\ny\n" });
    assert.equal(await confirm(ctx, "Go?"), true);
    assert.equal(out.stderr, "Go? (Y/n) Please enter Y or N\nGo? (Y/n) ");
    ({ ctx } = fakeContext({}, { tty: true, input: "" }));
    assert.equal(await confirm(ctx, "Go?"), false);
    ({ ctx } = fakeContext({}, { tty: true, input: "\n" }));
    assert.equal(await confirm(ctx, "Go?", { default: false }), false);
    ({ ctx } = fakeContext({}, { tty: false }));
    assert.equal(await confirm(ctx, "Go?", { yes: true }), true);
    await assert.rejects(confirm(ctx, "Go?"), { code: "USAGE" });
  });
});
