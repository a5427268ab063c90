// The seed scenario (test/fixtures/scenario-sharing-runs.txt, "Sharing runs with others") run
// step by step against the built binary: every command and its output as written, stdout and
// stderr read together with blank lines stripped (as the scenario's harness does), COLUMNS=60,
// TERM=unknown. The one deliberate difference: `copy --from` prints `Copied 1 run` where the
// scenario shows `Copied runs`, as its "Notes for implementation" ask for a proper summary.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { gage } from "../helpers/cli.js";
import { tempDir } from "../helpers/fixtures.js";

const EXAMPLE = fileURLToPath(new URL("../../examples/hello", import.meta.url));

let tmp: { path: string; cleanup: () => void };
before(() => (tmp = tempDir("gage-scenario-")));
after(() => tmp.cleanup());

/** Every file below `dir`, relative and sorted (the scenario's `lsl`). */
function lsl(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel))) {
      const path = rel ? `${rel}/${name}` : name;
      if (statSync(join(dir, path)).isDirectory()) walk(path);
      else out.push(path);
    }
  };
  walk("");
  return out.sort();
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/**
 * The scenario's `diffl(a, b)`: a unified diff (3 lines of context) of two listings, then the run
 * id shown as `{:run_id}` and user log names as `{:uuid4}`, as its `+parse` patterns read them.
 */
function diffl(a: string[], b: string[]): string {
  const dir = join(tmp.path, "diff");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "a"), a.join("\n") + "\n");
  writeFileSync(join(dir, "b"), b.join("\n") + "\n");
  let out: string;
  try {
    out = execFileSync("diff", ["-U3", join(dir, "a"), join(dir, "b")], { encoding: "utf8" });
  } catch (err) {
    out = (err as { stdout: string }).stdout;
  }
  return out
    .split("\n")
    .filter((l) => !l.startsWith("--- ") && !l.startsWith("+++ "))
    .map((l) => l.replace(/\.user\/[^/]+\.json$/, ".user/{:uuid4}.json").replace(UUID, "{:run_id}"))
    .join("\n")
    .trimEnd();
}

/**
 * Asserts the scenario's `diffl(lsl(a), lsl(b))`: one hunk, its header, the three lines of meta
 * context every hunk of the scenario starts with, then `lines`.
 */
function assertDiff(a: string, b: string, [header, ...lines]: string[]): void {
  const context = [" {:run_id}.meta/started", " {:run_id}.meta/stopped", " {:run_id}.meta/sys/platform.json"];
  assert.equal(diffl(lsl(a), lsl(b)), [header, ...context, ...lines].join("\n"));
}

test("Sharing runs with others: share and view, share and retrieve", async () => {
  const home = join(tmp.path, "home");
  const project = join(tmp.path, "hello");
  mkdirSync(home);
  cpSync(EXAMPLE, project, { recursive: true });
  const localRuns = join(home, ".gage", "runs");

  /** Runs gage in the project, and returns exit code and output with blank lines stripped. */
  async function run(args: string[], env: Record<string, string> = {}): Promise<string> {
    const r = await gage(args, { cwd: project, combined: true, env: { HOME: home, ...env } });
    const text = r.stdout
      .split("\n")
      .filter((l) => l.trim() !== "")
      .join("\n");
    return `${text}${text ? "\n" : ""}<${r.code}>`;
  }
  const table = (label: string) =>
    [
      "| # | operation   | status    | label                      |",
      "|---|-------------|-----------|----------------------------|",
      ...(label ? [`| 1 | hello:hello | completed | ${label.padEnd(26)} |`] : []),
    ].join("\n");
  const emptyTable = [
    "| # | operation | status | label                           |",
    "|---|-----------|--------|---------------------------------|",
  ].join("\n");

  // Share and View
  assert.equal(await run(["run", "hello", "name=Sharon", "-l", "Something to share", "-y"]), "Hello Sharon\n<0>");
  assert.equal(await run(["ls", "-s"]), `${table("Something to share")}\n<0>`);
  assert.equal(await run(["select", "--project-dir"]), `${realpathSync(project)}\n<0>`);

  const remoteRuns = join(tmp.path, "remote");
  mkdirSync(remoteRuns);
  const remote = { GAGE_RUNS: remoteRuns };
  assert.equal(await run(["ls", "-s"], remote), `${emptyTable}\n<0>`);
  assert.equal(await run(["copy", "--all", "--to", remoteRuns, "-y"]), "Copied 1 run\n<0>");
  assertDiff(localRuns, remoteRuns, [
    "@@ -17,7 +17,6 @@",
    "-{:run_id}.project",
    " {:run_id}.user/{:uuid4}.json",
    " {:run_id}/gage.toml",
    " {:run_id}/hello.py",
  ]);
  assert.equal(await run(["ls", "-s"], remote), `${table("Something to share")}\n<0>`);
  assert.equal(await run(["select", "--project-dir"], remote), "<0>");

  // Share and Retrieve
  const retrieveRuns = join(tmp.path, "retrieve");
  mkdirSync(retrieveRuns);
  const retrieve = { GAGE_RUNS: retrieveRuns };
  assert.equal(await run(["copy", "--all", "--from", remoteRuns, "-y"], retrieve), "Copied 1 run\n<0>");
  assert.equal(await run(["ls", "-s"], retrieve), `${table("Something to share")}\n<0>`);
  assert.equal(diffl(lsl(remoteRuns), lsl(retrieveRuns)), "");
  assert.equal(await run(["select", "--project-dir"], retrieve), "<0>");

  const retrieveProject = join(tmp.path, "retrieve-project");
  mkdirSync(retrieveProject);
  const associated = await run(["associate", "1", retrieveProject], retrieve);
  assert.match(associated, /^Associated "[0-9a-f-]{36}" with (.+)\n<0>$/);
  assert.equal(/ with (.+)\n/.exec(associated)![1], retrieveProject);
  assert.equal(await run(["select", "--project-dir"], retrieve), `${retrieveProject}\n<0>`);

  assert.equal(await run(["label", "1", "--set", "Just an example", "-y"], retrieve), "Set label for 1 run\n<0>");
  assert.equal(await run(["select", "--label"], retrieve), "Just an example\n<0>");
  assert.equal(await run(["select", "--label"]), "Something to share\n<0>");
  assert.equal(await run(["select", "--label"], remote), "Something to share\n<0>");

  assert.equal(await run(["copy", "1", "--to", remoteRuns, "-y"], retrieve), "Copied 1 run\n<0>");
  assertDiff(retrieveRuns, remoteRuns, [
    "@@ -17,7 +17,6 @@",
    "-{:run_id}.project",
    " {:run_id}.user/{:uuid4}.json",
    " {:run_id}.user/{:uuid4}.json",
    " {:run_id}/gage.toml",
  ]);
  assert.equal(await run(["select", "--label"], remote), "Just an example\n<0>");
  assert.equal(await run(["select", "--project-dir"], remote), "<0>");
  assertDiff(localRuns, remoteRuns, [
    "@@ -17,7 +17,7 @@",
    "-{:run_id}.project",
    " {:run_id}.user/{:uuid4}.json",
    "+{:run_id}.user/{:uuid4}.json",
    " {:run_id}/gage.toml",
    " {:run_id}/hello.py",
  ]);
  assert.equal(await run(["select", "--label"]), "Something to share\n<0>");

  assert.equal(await run(["copy", "--all", "--from", remoteRuns, "-y"]), "Copied 1 run\n<0>");
  assert.equal(await run(["select", "--label"]), "Just an example\n<0>");
  assert.equal(await run(["select", "--project-dir"]), `${realpathSync(project)}\n<0>`);
  assertDiff(remoteRuns, localRuns, [
    "@@ -17,6 +17,7 @@",
    "+{:run_id}.project",
    " {:run_id}.user/{:uuid4}.json",
    " {:run_id}.user/{:uuid4}.json",
    " {:run_id}/gage.toml",
  ]);

  // Beyond the scenario: a second copy has nothing to do, and says so.
  assert.equal(await run(["copy", "--all", "--from", remoteRuns, "-y"]), "Nothing copied, runs are up-to-date\n<0>");
});
