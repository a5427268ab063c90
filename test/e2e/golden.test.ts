// Python Gage's own output for 59 commands on the fixture runs (test/fixtures/golden/, recorded
// with gageml/gage @ e7ad729): the built binary must print the same bytes, except where
// docs/gage-compat.md documents a deliberate difference, which is asserted here instead.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PassThrough } from "node:stream";
import { after, before, describe, test } from "node:test";
import type { CliContext } from "../../src/cli/context.js";
import { main } from "../../src/cli/main.js";
import { tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";
import { GAGE_BIN } from "../helpers/cli.js";

const GOLDEN_DIR = fileURLToPath(new URL("../fixtures/golden/", import.meta.url));
// The goldens were recorded with a runs directory path of this length: the `show` panels pad
// after the location, so a path of another length shifts that padding by the difference.
const RECORDED_PATH_LENGTH = 26;

interface Golden {
  nn: string;
  cmd: string;
  rc: number;
  stdout: string;
}

function readGoldens(dir: string): Golden[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith(".cmd"))
    .sort()
    .map((n) => {
      const nn = n.slice(0, -4);
      const read = (ext: string) => readFileSync(join(dir, `${nn}.${ext}`), "utf8");
      return { nn, cmd: read("cmd").trim(), rc: Number(read("rc").trim()), stdout: read("stdout") };
    });
}

const goldens = readGoldens(GOLDEN_DIR);
// Relative ages (`10 days ago`): run in process, with the clock of their recording.
const timeDependent = readGoldens(join(GOLDEN_DIR, "time-dependent"));
const RECORDED_AT = new Date("2026-12-06T07:51:00Z");

/** Runs a golden's command line as the golden README does: `bash -c`, with `gage` a function. */
function runLine(cmd: string, runsDir: string, cwd: string, home: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn("bash", ["-c", `gage() { "${process.execPath}" "${GAGE_BIN}" "$@"; }; ${cmd}`], {
    cwd,
    env: { PATH: process.env.PATH, HOME: home, LANG: "C.UTF-8", GAGE_RUNS: runsDir, TERM: "unknown", COLUMNS: "80" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Our stdout with the runs directory as `{RUNS}`, the padding after it as the recording had it. */
function normalize(stdout: string, runsDir: string): string {
  const shift = runsDir.length - RECORDED_PATH_LENGTH;
  return stdout.replaceAll(new RegExp(`${runsDir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}( *)\\|`, "g"), (_m, spaces: string) => {
    return `{RUNS}${" ".repeat(Math.max(1, spaces.length + shift))}|`;
  }).replaceAll(runsDir, "{RUNS}");
}

/** The one-line error (and hint) of a command that selects nothing: never a stack trace. */
function assertNotFound(r: { code: number; stdout: string; stderr: string }, spec: string): void {
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr, `gage: No runs match '${spec}'\nTry 'gage ls' to list runs.\n`);
}

/** The deliberate differences (docs/gage-compat.md), by golden number. */
const DIFFERENCES: Record<string, (r: { code: number; stdout: string; stderr: string }, golden: Golden) => void> = {
  // An empty selection is exit 3 with a one-line error (Gage: nothing, or an empty table, exit 0).
  "027": (r) => assertNotFound(r, "0dcb788a"),
  "049": (r) => assertNotFound(r, "99"),
  "050": (r) => assertNotFound(r, "0"),
  // `-w` filters (Gage @ e7ad729 ignores it and lists every run): the runs of other operations
  // are left out and the caption counts the runs that match.
  "039": (r, golden) => {
    assert.equal(r.code, 0);
    const rows = tableRows(r.stdout);
    assert.deepEqual(
      rows.map((row) => row[1]),
      Array(7).fill("proj:hello"),
    );
    const goldenRows = tableRows(golden.stdout).filter((row) => row[1] === "proj:hello");
    assert.deepEqual(rows.map((row) => row.slice(1)), goldenRows.map((row) => row.slice(1)));
    assert.doesNotMatch(r.stdout, /Showing/);
  },
  "040": (r) => {
    assert.equal(r.code, 0);
    assert.deepEqual(tableRows(r.stdout).map((row) => row.slice(0, 3)), [["1", "proj:hello", "staged"], ["2", "proj:hello", "completed"]]);
    assert.match(r.stdout, /\n Showing 2 of 7 runs \(use -m to show more\) +\n$/);
  },
};

function tableRows(text: string): string[][] {
  return text
    .split("\n")
    .filter((l) => /^\| \d/.test(l))
    .map((l) => l.split("|").slice(1, -1).map((c) => c.trim()));
}

/** A fresh copy of the fixture runs for the tests of the enclosing `describe`. */
function freshFixtureRuns(): { dir: string; runs: string } {
  const state = { dir: "", runs: "" };
  let tmp: ReturnType<typeof tempDir>;
  before(() => {
    tmp = tempDir("gage-golden-");
    state.dir = tmp.path;
    state.runs = unpackFixtureRuns(tmp.path);
  });
  after(() => tmp.cleanup());
  return state;
}

describe("Python Gage's output, command by command", () => {
  const fixture = freshFixtureRuns();

  test("every golden is here", () => {
    assert.equal(goldens.length, 59);
    for (const nn of Object.keys(DIFFERENCES)) assert.ok(goldens.some((g) => g.nn === nn), nn);
  });

  for (const golden of goldens) {
    test(`${golden.nn}: ${golden.cmd}`, async () => {
      const r = await runLine(golden.cmd, fixture.runs, fixture.dir, "/nonexistent-home");
      const difference = DIFFERENCES[golden.nn];
      if (difference) return difference(r, golden);
      if (golden.rc !== 0) {
        // Gage fails here too; we fail with one line and a usage or not-found status.
        assert.ok([2, 3].includes(r.code), `exit ${r.code}: ${r.stderr}`);
        assert.equal(r.stdout, "");
        assert.match(r.stderr, /^gage: [^\n]+\n(Try [^\n]+\n)?$/);
        return;
      }
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, "");
      assert.equal(normalize(r.stdout, fixture.runs), golden.stdout);
    });
  }
});

describe("Python Gage's output with relative ages, at the time it was recorded", () => {
  const fixture = freshFixtureRuns();
  // `show` prints local times; the goldens set TZ=UTC.
  before(() => (process.env.TZ = "UTC"));

  test("every time-dependent golden is here", () => assert.equal(timeDependent.length, 3));

  async function inProcess(args: string[]): Promise<{ code: number; stdout: string }> {
    let stdout = "";
    const stream = () => Object.assign(new PassThrough(), { isTTY: false });
    const out = stream();
    out.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
    const ctx: CliContext = {
      env: { GAGE_RUNS: fixture.runs, TERM: "unknown", COLUMNS: "80", HOME: "/nonexistent-home" },
      cwd: fixture.dir,
      stdin: stream(),
      stdout: out,
      stderr: stream(),
      now: () => RECORDED_AT,
      exitCode: 0,
      onInterrupt: () => () => {},
    };
    return { code: await main(args, ctx), stdout };
  }

  for (const golden of timeDependent) {
    test(`${golden.nn}: ${golden.cmd}`, async () => {
      const words = golden.cmd.split(/\s+/);
      const r = await inProcess(words.slice(words.indexOf("gage") + 1));
      assert.equal(r.code, golden.rc);
      assert.equal(normalize(r.stdout, fixture.runs), golden.stdout);
    });
  }

  test("config values print as Python's str(): True, False, None, 1.0, 1e-05, lists", async () => {
    const config = join(fixture.runs, "360b9788-5f7e-4028-8eb1-6b97639c09ea.meta", "config.json");
    rmSync(config);
    writeFileSync(config, '{"a": true, "b": false, "c": null, "d": 1.0, "e": 1e-05, "f": [1, "it\'s", true, 2.5], "g": 2, "h": "text", "i": -0.5}');
    const r = await inProcess(["show", "gimar"]);
    const panel = r.stdout.split("Configuration")[1]!.split("\n").slice(1, 10).map((l) => l.slice(2).trimEnd());
    assert.deepEqual(panel, [
      "a  True",
      "b  False",
      "c  None",
      "d  1.0",
      "e  1e-05",
      `f  [1, "it's", True, 2.5]`,
      "g  2",
      "h  text",
      "i  -0.5",
    ].map((l) => l.padEnd(76) + " |"));
  });
});
