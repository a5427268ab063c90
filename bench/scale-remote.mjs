#!/usr/bin/env node
// Builds one folder remote of tiny runs as bench/scale-cases.mjs does (pushes alternating between
// two members' runs directories, A keeping its newest runs), for timing commands against it by
// hand at a size of one's choosing:
//   node bench/scale-remote.mjs --out DIR --runs N [--pushes P] [--member M] [--gage dist/bundle/gage.cjs]
// Leaves DIR/remote, DIR/a (the member, M runs) and DIR/ids-b (runs B pushed, one a line).
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { makeTinyRuns } from "./make-tiny-runs.mjs";

const { values } = parseArgs({
  options: {
    out: { type: "string" },
    runs: { type: "string" },
    pushes: { type: "string", default: "32" },
    member: { type: "string", default: "2000" },
    gage: { type: "string", default: new URL("../dist/bundle/gage.cjs", import.meta.url).pathname },
  },
});
if (!values.out || !values.runs) throw new Error("--out DIR and --runs N are required");
const out = resolve(values.out);
const total = Number(values.runs);
const pushes = Number(values.pushes);
const keep = Number(values.member);
const side = { remote: join(out, "remote"), a: join(out, "a"), b: join(out, "b") };
for (const dir of Object.values(side)) mkdirSync(dir, { recursive: true });

const gage = (args, runsDir) => execFileSync(process.execPath, [values.gage, ...args], { env: { ...process.env, GAGE_RUNS: runsDir, TERM: "unknown" }, stdio: ["ignore", "ignore", "inherit"] });
const removeRuns = (dir, ids) => {
  for (const id of ids) for (const part of ["", ".meta", ".user", ".project"]) rmSync(join(dir, id + part), { recursive: true, force: true });
};

let index = 0;
const aIds = [];
const bIds = [];
for (let i = 0; i < pushes; i++) {
  const n = Math.floor((total * (i + 1)) / pushes) - Math.floor((total * i) / pushes);
  const member = i % 2 === 0 ? side.a : side.b;
  const { ids } = makeTinyRuns({ out: member, runs: n, startIndex: index, seed: 3 });
  index += n;
  if (i === pushes - 1 && aIds.length < keep) makeTinyRuns({ out: side.a, runs: keep - aIds.length, startIndex: 5_000_000, seed: 3 });
  gage(["push", side.remote, "-y"], member);
  if (member === side.b) {
    removeRuns(side.b, ids);
    bIds.push(...ids);
  } else {
    aIds.push(...ids);
    removeRuns(side.a, aIds.splice(0, Math.max(0, aIds.length - keep)));
  }
  process.stderr.write(`${i + 1}/${pushes} pushes, ${index} runs\n`);
}
writeFileSync(join(out, "ids-b"), bIds.join("\n") + "\n");
