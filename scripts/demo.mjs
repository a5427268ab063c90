#!/usr/bin/env node
// The main job, end to end (`npm run demo`, which builds first): in a temporary folder, Alice makes
// a run and pushes it to a local directory remote; Bob clones it, relabels it and pushes back;
// Alice pulls and sees Bob's label, her project association untouched. Each step prints the
// command and its output. Exits non-zero when a step fails or the label did not travel.
// Usage: node scripts/demo.mjs [--keep]   (--keep leaves the temporary folder for inspection)
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
// the `gage` command as `npm link` installs it
const bin = join(root, "bin", "gage");
const keep = process.argv.includes("--keep");
const work = mkdtempSync(join(tmpdir(), "gage-demo-"));
const project = join(work, "hello");
const remote = join(work, "team-remote");
const alice = join(work, "alice-runs");
const bob = join(work, "bob-runs");

function step(title, who, runsDir, args) {
  process.stdout.write(`\n## ${title}\n$ GAGE_RUNS=${runsDir.replace(work, "$DEMO")} gage ${args.map(quote).join(" ").replaceAll(work, "$DEMO")}\n`);
  const r = spawnSync(bin, args, {
    cwd: who === "alice" ? project : work,
    env: { ...process.env, GAGE_RUNS: runsDir, USER: who, LOGNAME: who, COLUMNS: process.env.COLUMNS ?? "80" },
    encoding: "utf8",
  });
  process.stdout.write((r.stdout + r.stderr).replaceAll(work, "$DEMO"));
  if (r.status !== 0) {
    process.stderr.write(`demo: 'gage ${args.join(" ")}' exited with ${r.status}\n`);
    finish(1);
  }
  return r.stdout.trim();
}

function quote(a) {
  return /^[\w./:=$-]+$/.test(a) ? a : `'${a}'`;
}

function finish(code) {
  if (keep) process.stdout.write(`\n(kept ${work})\n`);
  else {
    spawnSync("chmod", ["-R", "u+w", work]);
    rmSync(work, { recursive: true, force: true });
  }
  process.exit(code);
}

process.stdout.write(`gage-sync demo in ${keep ? work : "a temporary folder"} ($DEMO below)\n`);
cpSync(join(root, "examples", "hello"), project, { recursive: true });

step("Alice makes a run", "alice", alice, ["run", "hello", "name=Alice", "-l", "Something to share", "-y"]);
step("Alice's runs", "alice", alice, ["ls"]);
step("Alice pushes it to the team remote (a local folder here; s3:// and ssh:// work the same)", "alice", alice, ["push", remote, "-y"]);
step("Bob clones the team remote", "bob", bob, ["clone", remote, bob]);
step("Bob's runs", "bob", bob, ["ls"]);
step("Bob relabels the run", "bob", bob, ["label", "1", "--set", "Reviewed by Bob", "-y"]);
step("Bob pushes back (clone made the team remote his default)", "bob", bob, ["push", "-y"]);
step("Alice compares with the remote", "alice", alice, ["status", remote]);
step("Alice pulls", "alice", alice, ["pull", remote, "-y"]);
const label = step("Alice sees Bob's label", "alice", alice, ["select", "--label"]);
step("Alice's run is still associated with her project", "alice", alice, ["select", "--project-dir"]);
step("Nothing left to do", "alice", alice, ["push", remote, "-y"]);

const projectFiles = readdirSync(remote, { recursive: true }).filter((p) => String(p).endsWith(".project"));
const ok = label === "Reviewed by Bob" && projectFiles.length === 0 && readFileSync(join(alice, readdirSync(alice).find((n) => n.endsWith(".project"))), "utf8").includes(project);
process.stdout.write(ok ? "\nDemo complete: the label travelled both ways; project associations stayed local.\n" : "\ndemo: FAILED: the merged label or the project association is wrong\n");
finish(ok ? 0 : 1);
