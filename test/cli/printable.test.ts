import assert from "node:assert/strict";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import type { CliContext } from "../../src/cli/context.js";
import { main } from "../../src/cli/main.js";
import { renderPanel } from "../../src/cli/panel.js";
import { printable, printableLines } from "../../src/cli/printable.js";
import { renderTable } from "../../src/cli/table.js";
import { appendUserLog } from "../../src/runs/user-log.js";
import { unpackFixtureRuns, withTempDir } from "../helpers/fixtures.js";

const HOSTILE = "Nice \x1b[31mred\r\0 label";
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

test("control characters, NUL and invisible reordering characters are escaped, other text kept", () => {
  assert.equal(printable(HOSTILE), "Nice \\x1b[31mred\\r\\x00 label");
  assert.equal(printable("tab\tnew\nline\x7f\x9b"), "tab\\tnew\\nline\\x7f\\x9b");
  assert.equal(printable("abc\u202edcba\u2066"), "abc\\u{202e}dcba\\u{2066}");
  assert.equal(printable("Grüße — 日本語 ✓"), "Grüße — 日本語 ✓");
  assert.equal(printableLines("gage: a\x1b[2Jb\nhint \x00"), "gage: a\\x1b[2Jb\nhint \\x00");
});

test("tables and panels print a hostile label escaped and keep their alignment", () => {
  const style = { width: 60, plain: true, color: false };
  const table = renderTable([{ header: "#" }, { header: "label", ratio: 1 }], [["1", HOSTILE], ["2", "plain"]], style, { expand: true });
  assert.doesNotMatch(table, CONTROL);
  const lines = table.split("\n").filter((l) => l.startsWith("| "));
  assert.match(lines[1]!, /\| Nice \\x1b\[31mred\\r\\x00 label +\|$/);
  assert.equal(new Set(lines.map((l) => l.length)).size, 1, table);

  const panel = renderPanel(`\x1b]0;title\x07`, ["kept as given"], style);
  assert.doesNotMatch(panel, CONTROL);
  assert.match(panel, /\\x1b\]0;title\\x07/);
});

test("gage select prints a label's bytes to a script and escaped to a terminal", async () => {
  await withTempDir("gage-select-", async (tmp) => {
    const runs = unpackFixtureRuns(tmp.path);
    await appendUserLog(join(runs, "360b9788-5f7e-4028-8eb1-6b97639c09ea.user"), { set: { label: HOSTILE } }, { author: "x", nowMs: Date.UTC(2026, 11, 1) });
    for (const tty of [false, true]) {
      let stdout = "";
      const stream = (isTTY: boolean) => Object.assign(new PassThrough(), { isTTY });
      const out = stream(tty);
      out.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
      const ctx: CliContext = { env: { GAGE_RUNS: runs }, cwd: tmp.path, stdin: stream(false), stdout: out, stderr: stream(false), now: () => new Date(), exitCode: 0, onInterrupt: () => () => {} };
      assert.equal(await main(["select", "--label", "gimar"], ctx), 0);
      assert.equal(stdout, tty ? `${printable(HOSTILE)}\n` : `${HOSTILE}\n`);
    }
  });
});
