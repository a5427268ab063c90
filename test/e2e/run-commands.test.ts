import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmod, mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gage } from "../helpers/cli.js";
import { tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";

// The scenario's run is the fixtures' "Something to share" run.
const RUN_ID = "87bd998b-bf53-4585-9afb-cc19b62871d8";

/** The scenario compares stdout and stderr read together, without the blank lines of spaces. */
function scenarioText(out: string): string {
  return out
    .split("\n")
    .filter((l) => l.trim() !== "")
    .join("\n");
}

/** Copies one run's entries (not its `.project`, as `gage copy` does) into `dest`. */
function copyRun(from: string, dest: string, id: string, withProject: boolean): void {
  const entries = [id, `${id}.meta`, `${id}.user`, ...(withProject ? [`${id}.project`] : [])];
  execFileSync("cp", ["-a", ...entries.map((e) => join(from, e)), dest]);
}

describe("the scenario's run-side steps, on a run written by Python Gage", () => {
  let tmp: ReturnType<typeof tempDir>;
  let local: string;
  let remote: string;
  let retrieved: string;
  let project: string;
  let retrieveProject: string;

  before(async () => {
    tmp = tempDir("gage-e2e-runs-");
    const fixtures = unpackFixtureRuns(tmp.path);
    local = join(tmp.path, "local");
    remote = join(tmp.path, "remote");
    retrieved = join(tmp.path, "retrieved");
    project = join(tmp.path, "hello");
    retrieveProject = join(tmp.path, "retrieve-project");
    for (const d of [local, remote, retrieved, project, retrieveProject]) await mkdir(d);
    copyRun(fixtures, local, RUN_ID, true);
    // The scenario's project folder is `hello`, so its operation is `hello:hello`.
    const meta = join(local, `${RUN_ID}.meta`);
    await chmod(meta, 0o755);
    await chmod(join(meta, "opref"), 0o644);
    await writeFile(join(meta, "opref"), "1 hello hello");
    await chmod(join(meta, "opref"), 0o444);
    await chmod(join(local, `${RUN_ID}.project`), 0o644);
    await writeFile(join(local, `${RUN_ID}.project`), `file:${project}`);
    copyRun(local, retrieved, RUN_ID, false);
  });
  after(() => tmp.cleanup());

  const run = (args: string[], runsDir: string) => gage(args, { env: { GAGE_RUNS: runsDir }, combined: true });

  test("gage ls -s", async () => {
    const r = await run(["ls", "-s"], local);
    assert.equal(r.code, 0);
    assert.equal(
      scenarioText(r.stdout),
      [
        "| # | operation   | status    | label                      |",
        "|---|-------------|-----------|----------------------------|",
        "| 1 | hello:hello | completed | Something to share         |",
      ].join("\n"),
    );
    // As Python Gage: the table sits between two lines of COLUMNS spaces.
    const blank = " ".repeat(60);
    assert.ok(r.stdout.startsWith(blank + "\n") && r.stdout.endsWith("\n" + blank + "\n"));
  });

  test("gage select --project-dir", async () => {
    const r = await run(["select", "--project-dir"], local);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, project + "\n");
  });

  test("gage ls -s on an empty runs directory", async () => {
    const r = await run(["ls", "-s"], remote);
    assert.equal(r.code, 0);
    assert.equal(
      scenarioText(r.stdout),
      ["| # | operation | status | label                           |", "|---|-----------|--------|---------------------------------|"].join("\n"),
    );
  });

  test("select --project-dir, associate, label, select --label on a retrieved copy", async () => {
    let r = await run(["ls", "-s"], retrieved);
    assert.match(r.stdout, /\| 1 \| hello:hello \| completed \| Something to share {9}\|/);

    r = await run(["select", "--project-dir"], retrieved);
    assert.deepEqual([r.code, r.stdout], [0, "\n"]);

    r = await run(["associate", "1", retrieveProject], retrieved);
    assert.deepEqual([r.code, r.stdout], [0, `Associated "${RUN_ID}" with ${retrieveProject}\n`]);

    r = await run(["select", "--project-dir"], retrieved);
    assert.deepEqual([r.code, r.stdout], [0, retrieveProject + "\n"]);

    const userDir = join(retrieved, `${RUN_ID}.user`);
    const before = await readdir(userDir);
    r = await gage(["label", "1", "--set", "Just an example", "-y"], { env: { GAGE_RUNS: retrieved, USER: "bob", LOGNAME: "bob" } });
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, "", "Set label for 1 run\n"]);

    r = await run(["select", "--label"], retrieved);
    assert.deepEqual([r.code, r.stdout], [0, "Just an example\n"]);

    // The local run is not modified.
    r = await run(["select", "--label"], local);
    assert.deepEqual([r.code, r.stdout], [0, "Something to share\n"]);

    // The new log entry is a file as Python Gage writes it.
    const added = (await readdir(userDir)).filter((n) => !before.includes(n));
    assert.equal(added.length, 1);
    assert.match(added[0]!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.json$/);
    assert.ok(added[0]! > before.sort().at(-1)!);
    assert.equal(await readFile(join(userDir, added[0]!), "utf8"), '{"author": "bob", "set": {"label": "Just an example"}, "delete": []}');
    assert.equal((await stat(join(userDir, added[0]!))).mode & 0o777, 0o444);
    assert.equal((await stat(join(retrieved, `${RUN_ID}.project`))).mode & 0o777, 0o644);
  });
});

describe("run commands on the fixture runs", () => {
  let tmp: ReturnType<typeof tempDir>;
  let runsDir: string;
  before(() => {
    tmp = tempDir("gage-e2e-runs-");
    runsDir = unpackFixtureRuns(tmp.path);
  });
  after(() => tmp.cleanup());
  const run = (args: string[], extra: { input?: string } = {}) => gage(args, { env: { GAGE_RUNS: runsDir }, ...extra });

  test("every command has --help", async () => {
    for (const cmd of ["ls", "list", "runs", "select", "label", "comment", "associate", "show", "delete", "restore", "purge"]) {
      const r = await run([cmd, "--help"]);
      assert.equal(r.code, 0, cmd);
      assert.match(r.stdout, /^Usage: gage /, cmd);
    }
  });

  test("ls -s lists the fixture runs as Python Gage does", async () => {
    const r = await run(["ls", "-s"]);
    assert.equal(r.code, 0);
    const lines = scenarioText(r.stdout).split("\n");
    assert.equal(lines[0], "| # | operation    | status    | label                     |");
    assert.equal(lines[4], "| 3 | proj:hello   | completed | Grüße — 日本語 ✓          |");
    assert.equal(lines[10], "| 9 | proj:hello   | completed |                           |");
    assert.equal(lines.length, 11);
  });

  test("select by index, name, slice; errors are one line plus a hint", async () => {
    let r = await run(["select", "--name", "1"]);
    assert.deepEqual([r.code, r.stdout], [0, "muhoh-luraf\n"]);
    r = await run(["select", "zuz", "17847"]);
    assert.deepEqual([r.code, r.stdout], [0, "ffcb9078-ed64-41f7-8fc4-9d3328700bf7\n17847a1d-febc-4c61-ba8f-78ed289ebb71\n"]);
    r = await run(["select", "--meta-dir", "jilol"]);
    assert.equal(r.stdout, join(runsDir, "55e771fb-8eb0-4cfd-88b5-8a25505e078e.meta") + "\n");

    r = await run(["select", "nope"]);
    assert.deepEqual([r.code, r.stdout, r.stderr], [3, "", "gage: No runs match 'nope'\nTry 'gage ls' to list runs.\n"]);
    r = await run(["select", "2:4"]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /^gage: '2:4' matches 3 runs:\n {2}17847a1d-.* \(divah-lomit\)\n/);
    r = await run(["select", ""]);
    assert.equal(r.code, 2);
    r = await run(["label", "--set", "x", "-y"]);
    assert.equal(r.code, 2, "no run named and no --all");
    r = await run(["label", "1", "-y"]);
    assert.equal(r.code, 2, "neither --set nor --clear");
    r = await run(["ls", "-w", "no-such-thing", "-s"]);
    assert.equal(r.code, 0);
    r = await run(["label", "-w", "no-such-thing", "-a", "--set", "x", "-y"]);
    assert.deepEqual([r.code, r.stderr], [3, "gage: Nothing selected\nTry 'gage ls' to list runs.\n"]);
  });

  test("mutating commands without -y and no TTY fail at once, changing nothing", async () => {
    const userDir = join(runsDir, "ffcb9078-ed64-41f7-8fc4-9d3328700bf7.user");
    const before = await readdir(userDir);
    const r = await run(["label", "zuzar", "--set", "x"], { input: "y\n" });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /-y/);
    assert.deepEqual(await readdir(userDir), before);
    const d = await run(["delete", "zuzar"]);
    assert.equal(d.code, 2);
  });

  test("label --clear, comment, show", async () => {
    let r = await run(["label", "samif", "--clear", "-y"]);
    assert.deepEqual([r.code, r.stderr], [0, "Cleared label for 1 run\n"]);
    r = await run(["select", "--label", "samif"]);
    assert.equal(r.stdout, "\n");
    r = await run(["comment", "gimar", "-m", "Looks **good**", "-y"]);
    assert.deepEqual([r.code, r.stderr], [0, "Added comment to run gimar-nivam\n"]);
    r = await run(["comment", "--list", "gimar"]);
    // Gage's panel: the comment id and run in the title, the attributes, then the Markdown as text.
    assert.match(r.stdout, /^ +[0-9a-f]{8}-[0-9a-f]{4} gimar-nivam +\n\| author +\S+ +\|\n\| date +\d\d\/\d\d\/\d\d \d\d:\d\d:\d\d +\|\n\| run +gimar-nivam +\|\n\| comment id +[0-9a-f]{8}-[0-9a-f]{4} +\|\n\| +\|\n\| Looks good +\|\n/);
    r = await run(["show", "zuzar"]);
    assert.equal(r.code, 0);
    for (const text of ["ffcb9078-ed64-41f7-8fc4-9d3328700bf7", "zuzar-nadum", "proj:bigfile", "completed", "Generated files", "/home/gage/projects/proj", "| big.bin", "5.2 MB", "total: 5.2 MB"]) {
      assert.ok(r.stdout.includes(text), text);
    }
    r = await run(["show", "kojon", "--json"]);
    const shown = JSON.parse(r.stdout);
    assert.deepEqual(shown.comments.map((c: { msg: string }) => c.msg), ["First comment", "Second comment with **markdown**"]);
    assert.equal(shown.config.name, "Comments");
  });

  test("delete, ls -d, restore, purge", async () => {
    const id = "360b9788-5f7e-4028-8eb1-6b97639c09ea";
    let r = await run(["delete", "gimar", "-y"]);
    assert.deepEqual([r.code, r.stderr], [0, "Deleted 1 run\n"]);
    await stat(join(runsDir, `${id}.meta.deleted`));
    r = await run(["ls", "-d", "--json"]);
    assert.deepEqual(JSON.parse(r.stdout).map((x: { name: string }) => x.name), ["bular-lofap", "gimar-nivam"]);
    r = await run(["restore", "gimar", "-y"]);
    assert.deepEqual([r.code, r.stderr], [0, "Restored 1 run\n"]);
    r = await run(["select", "--name", "gimar"]);
    assert.equal(r.stdout, "gimar-nivam\n");
    r = await run(["purge", "bular", "-y"]);
    assert.deepEqual([r.code, r.stderr], [0, "Permanently deleted 1 run\n"]);
    const left = (await readdir(runsDir)).filter((n) => n.startsWith("0dcb788a"));
    assert.deepEqual(left, []);
    r = await run(["purge", "--all", "-y"]);
    assert.equal(r.code, 3, "nothing deleted is left");
  });

  test("unreadable meta is skipped with a warning; a missing runs dir is an error", async () => {
    const meta = join(runsDir, "55e771fb-8eb0-4cfd-88b5-8a25505e078e.meta");
    await chmod(meta, 0o755);
    await chmod(join(meta, "__schema__"), 0o644);
    await writeFile(join(meta, "__schema__"), "99");
    let r = await run(["ls", "-s"]);
    assert.equal(r.code, 0);
    assert.match(r.stderr, new RegExp(`^gage: warning: .*${meta}`));
    assert.ok(!r.stdout.includes("proj:fail"));
    r = await gage(["ls"], { env: { GAGE_RUNS: join(tmpDirOf(runsDir), "missing") } });
    assert.equal(r.code, 1);
    assert.equal(r.stderr.split("\n")[0], `gage: Runs directory ${join(tmpDirOf(runsDir), "missing")} does not exist`);
  });
});

function tmpDirOf(runsDir: string): string {
  return join(runsDir, "..");
}
