import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { GAGE_BIN, baseEnv, gage } from "../helpers/cli.js";
import { tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";

const EXAMPLE = fileURLToPath(new URL("../../examples/hello", import.meta.url));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The fixture runs (Python Gage) that our runs are compared with. */
const FIXTURE = {
  scenario: "87bd998b-bf53-4585-9afb-cc19b62871d8",
  fail: "55e771fb-8eb0-4cfd-88b5-8a25505e078e",
  staged: "8d247ec2-d50e-4ada-bab6-cae8ad850083",
  generated: "ffcb9078-ed64-41f7-8fc4-9d3328700bf7",
};

let tmp: { path: string; cleanup: () => void };
let fixtures: string;

before(() => {
  tmp = tempDir("gage-run-e2e-");
  fixtures = unpackFixtureRuns(tmp.path);
});
after(() => tmp.cleanup());

let counter = 0;

/** A copy of examples/hello (plus extra files) in a folder named `hello`, and an empty runs dir. */
function project(extra: Record<string, string> = {}): { dir: string; runs: string; env: Record<string, string> } {
  const root = join(tmp.path, `case-${++counter}`);
  const dir = join(root, "hello");
  cpSync(EXAMPLE, dir, { recursive: true });
  for (const [name, text] of Object.entries(extra)) writeFileSync(join(dir, name), text);
  const runs = join(root, "runs");
  return { dir, runs, env: { GAGE_RUNS: runs } };
}

function onlyRun(runs: string): { id: string; meta: string; run: string } {
  const ids = readdirSync(runs).filter((n) => UUID.test(n));
  assert.equal(ids.length, 1, `one run in ${runs}: ${readdirSync(runs).join(", ")}`);
  const id = ids[0]!;
  return { id, meta: join(runs, `${id}.meta`), run: join(runs, id) };
}

/** Every path under `dir` with its permission bits, sorted. */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      const st = statSync(path);
      out.push(`${(st.mode & 0o777).toString(8)} ${relative(dir, path)}`);
      if (st.isDirectory()) walk(path);
    }
  };
  walk(dir);
  return out.sort();
}

const read = (path: string) => readFileSync(path, "utf8");
const stripTimes = (log: string) => log.replace(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} /gm, "");

/** Checks the formats every run shares with Gage's (docs/gage-format.md §3-5). */
function assertMetaFormats(meta: string, id: string): void {
  assert.equal(read(join(meta, "__schema__")), "1");
  assert.equal(read(join(meta, "id")), id);
  for (const name of ["initialized", "staged", "started", "stopped"]) {
    if (existsSync(join(meta, name))) assert.match(read(join(meta, name)), /^\d{16}$/, name);
  }
  const times = ["initialized", "staged", "started", "stopped"].filter((n) => existsSync(join(meta, n))).map((n) => Number(read(join(meta, n))));
  assert.deepEqual([...times].sort((a, b) => a - b), times, "timestamps increase");
  assert.match(read(join(meta, "log", "runner")), /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} .+\n)+$/);
  assert.match(read(join(meta, "log", "files")), /^([amd] [srdg] (\d{16}|-) .+\n)*$/);
  assert.match(read(join(meta, "manifest")), /^([srdg] [0-9a-f]{64} .+\n)*$/);
  assert.match(read(join(meta, "sys", "platform.json")), /^"[^"\n]+"$/);
  if (existsSync(join(meta, "output", "40_run.index"))) {
    assert.equal(statSync(join(meta, "output", "40_run.index")).size % 9, 0);
  }
}

test("the scenario's run prints Hello Sharon and writes the run as Python Gage does", async () => {
  const p = project();
  const r = await gage(["run", "hello", "name=Sharon", "-l", "Something to share", "-y"], { cwd: p.dir, env: p.env });
  assert.deepEqual(r, { code: 0, stdout: "Hello Sharon\n", stderr: "" });

  const { id, meta, run } = onlyRun(p.runs);
  const fx = join(fixtures, FIXTURE.scenario);
  assert.deepEqual(listing(meta), listing(`${fx}.meta`));
  assert.deepEqual(listing(run), ["444 gage.toml", "444 hello.py"]);
  assert.equal((statSync(join(p.runs, `${id}.project`)).mode & 0o777).toString(8), "644");
  assert.equal(read(join(p.runs, `${id}.project`)), `file:${p.dir}`);
  assertMetaFormats(meta, id);
  assert.equal(read(join(meta, "opref")), "1 hello hello");
  for (const same of ["opdef.json", "config.json", "proc/cmd.json", "proc/env.json", "proc/exit", "log/patched", "output/40_run"]) {
    assert.equal(read(join(meta, same)), read(join(`${fx}.meta`, same)), same);
  }
  assert.equal(stripTimes(read(join(meta, "log", "runner"))), stripTimes(read(join(`${fx}.meta`, "log", "runner"))));
  assert.equal(read(join(meta, "log", "files")).replace(/ \d{16} /g, " T "), "a s T gage.toml\na s T hello.py\n");
  assert.match(read(join(meta, "manifest")), /^s [0-9a-f]{64} gage\.toml\ns 00b88592b1f5fc316f76b36cb1f82ed293b52a1526b33fb5844af83ed798cf3a hello\.py\n$/);
  const index = readFileSync(join(meta, "output", "40_run.index"));
  assert.equal(index.length, 9);
  assert.equal(index[8], 0);
  const started = Number(read(join(meta, "started")));
  assert.ok(Math.abs(Number(index.readBigUInt64BE(0)) - started / 1000) < 60_000, "index time is epoch ms");

  const userFiles = readdirSync(join(p.runs, `${id}.user`));
  assert.equal(userFiles.length, 1);
  assert.match(userFiles[0]!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.json$/);
  assert.equal(read(join(p.runs, `${id}.user`, userFiles[0]!)), '{"author": "root", "set": {"label": "Something to share"}, "delete": []}');

  const ls = await gage(["ls", "-s"], { cwd: p.dir, env: p.env });
  const blank = " ".repeat(60);
  assert.deepEqual(ls, {
    code: 0,
    stdout:
      `${blank}\n` +
      "| # | operation   | status    | label                      |\n" +
      "|---|-------------|-----------|----------------------------|\n" +
      "| 1 | hello:hello | completed | Something to share         |\n" +
      `${blank}\n`,
    stderr: "",
  });
});

test("a failing operation: status error, its exit code, both streams on stdout", async () => {
  const p = project({
    "gage.toml": '[fail]\ndescription = "Print to stdout and stderr, then exit with status 1."\nexec = "python fail.py"\n',
    "fail.py": 'import sys\n\nprint("Starting work")\nsys.stdout.flush()\nprint("Something went wrong", file=sys.stderr)\nsys.exit(1)\n',
  });
  const r = await gage(["run", "-y"], { cwd: p.dir, env: p.env });
  assert.deepEqual(r, { code: 1, stdout: "Starting work\nSomething went wrong\n", stderr: "" });
  const { id, meta } = onlyRun(p.runs);
  assert.deepEqual(listing(meta), listing(join(fixtures, `${FIXTURE.fail}.meta`)));
  assertMetaFormats(meta, id);
  assert.equal(read(join(meta, "proc", "exit")), "1");
  assert.equal(read(join(meta, "config.json")), "{}");
  const index = readFileSync(join(meta, "output", "40_run.index"));
  assert.deepEqual([index.length, index[8], index[17]], [18, 0, 1]);
  assert.ok(!existsSync(join(p.runs, `${id}.user`)));
  const ls = await gage(["ls", "-s"], { cwd: p.dir, env: p.env });
  assert.match(ls.stdout, /^\| 1 \| hello:fail +\| error +\| +\|$/m);
});

test("generated, modified and deleted files: files log, manifest, read-only modes", async () => {
  const p = project({
    "gage.toml": '[gen]\nexec = ["python", "gen.py"]\n',
    "gen.py":
      'import os\nos.makedirs("out/nested")\nopen("out/a.txt", "w").write("alpha\\n")\nopen("out/nested/c.json", "w").write("{}")\n' +
      'os.remove("hello.py")\nos.chmod("gage.toml", 0o644)\nopen("gage.toml", "a").write("# changed\\n")\n',
  });
  const r = await gage(["run", "gen", "-y"], { cwd: p.dir, env: p.env });
  assert.deepEqual(r, { code: 0, stdout: "", stderr: "" });
  const { id, meta, run } = onlyRun(p.runs);
  assertMetaFormats(meta, id);
  assert.deepEqual(listing(meta), listing(join(fixtures, `${FIXTURE.generated}.meta`)));
  assert.equal(read(join(meta, "proc", "cmd.json")), '[\n  "python",\n  "gen.py"\n]');
  assert.equal(
    read(join(meta, "log", "files")).replace(/ \d{16} /g, " T "),
    "a s T gage.toml\na s T gen.py\na s T hello.py\nm g T gage.toml\na g T out/a.txt\na g T out/nested/c.json\nd g - hello.py\n",
  );
  assert.match(
    read(join(meta, "manifest")),
    /^s [0-9a-f]{64} gage\.toml\ns [0-9a-f]{64} gen\.py\ng b6a98d9ce9a2d9149288fa3df42d377c3e42737afdcdaf714e33c0a100b51060 out\/a\.txt\ng [0-9a-f]{64} out\/nested\/c\.json\n$/,
  );
  assert.match(read(join(meta, "log", "runner")), / File "gage\.toml" was modified during the run\n/);
  assert.deepEqual(listing(run), ["444 gage.toml", "444 gen.py", "444 out/a.txt", "444 out/nested/c.json", "755 out", "755 out/nested"]);
});

test("a flag that names no config key fails with the list of flags, and makes no run", async () => {
  const p = project();
  const r = await gage(["run", "hello", "nam=Sharon", "-y"], { cwd: p.dir, env: p.env });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Unknown flag 'nam' for operation hello\nValid flags for hello: name\n/);
  assert.equal(r.stdout, "");
  assert.ok(!existsSync(p.runs));

  const help = await gage(["run", "hello", "--help-op"], { cwd: p.dir, env: p.env });
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Print a greeting\.[\s\S]*\| name +\| Gage +\|/);
});

test("no gagefile and no such operation give Gage's errors", async () => {
  const empty = join(tmp.path, "empty");
  mkdirSync(empty);
  const none = await gage(["run", "-y"], { cwd: empty, env: { GAGE_RUNS: join(empty, "runs") } });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /No operations defined for the current directory/);

  const p = project();
  const missing = await gage(["run", "train", "-y"], { cwd: p.dir, env: p.env });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /Cannot find operation 'train'\n\nOperations defined for this project:\n {2}hello\n/);
});

test("without -y and without a terminal to ask, nothing runs", async () => {
  const p = project();
  const r = await gage(["run", "hello"], { cwd: p.dir, env: p.env });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /You are about to run hello:hello\n[\s\S]*\| name +\| Gage +\|[\s\S]*Pass -y/);
  assert.ok(!existsSync(p.runs));
});

test("--stage stages a run as Gage does; --start runs it later", async () => {
  const p = project();
  const staged = await gage(["run", "name=Staged", "--stage", "-y"], { cwd: p.dir, env: p.env });
  assert.equal(staged.code, 0);
  const { id, meta } = onlyRun(p.runs);
  const name = /^Run "([a-z]{5}-[a-z]{5})" is staged\n\nTo start it, run 'gage run --start \1'\n$/.exec(staged.stdout)?.[1];
  assert.ok(name, staged.stdout);
  assert.deepEqual(listing(meta), listing(join(fixtures, `${FIXTURE.staged}.meta`)));
  assert.equal(read(join(meta, "log", "patched")), read(join(fixtures, `${FIXTURE.staged}.meta`, "log", "patched")));

  const started = await gage(["run", "--start", name!, "-y"], { cwd: p.dir, env: p.env });
  assert.deepEqual(started, { code: 0, stdout: "Hello Staged\n", stderr: "" });
  assert.deepEqual(listing(meta), listing(join(fixtures, `${FIXTURE.scenario}.meta`)).filter((l) => !l.includes("user")));
  assertMetaFormats(meta, id);

  const again = await gage(["run", "--start", name!, "-y"], { cwd: p.dir, env: p.env });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /is 'completed'\n\nOnly staged runs can be started with '--start'\./);
});

test("python means python3 when there is no python on PATH", async () => {
  const p = project();
  const r = await gage(["run", "hello", "-y"], { cwd: p.dir, env: { ...p.env, PATH: "/usr/bin:/bin" } });
  assert.deepEqual(r, { code: 0, stdout: "Hello Gage\n", stderr: "" });
});

test("SIGTERM ends the operation and leaves a terminated run", async () => {
  const p = project({
    "gage.toml": '[wait]\nexec = "python wait.py"\n',
    "wait.py": 'import time\nprint("ready", flush=True)\ntime.sleep(120)\n',
  });
  const child = spawn(process.execPath, [GAGE_BIN, "run", "-y"], { cwd: p.dir, env: baseEnv(p.env) });
  let stdout = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
    if (stdout.includes("ready\n")) child.kill("SIGTERM");
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  assert.equal(code, 128 + 15);
  const { id, meta } = onlyRun(p.runs);
  assert.equal(read(join(meta, "proc", "exit")), "-15");
  assert.ok(!existsSync(join(meta, "proc", "lock")));
  assert.equal(read(join(meta, "output", "40_run")), "ready\n");
  assertMetaFormats(meta, id);
  const ls = await gage(["ls", "-s"], { cwd: p.dir, env: p.env });
  assert.match(ls.stdout, /^\| 1 \| hello:wait +\| terminated +\| +\|$/m);
});
