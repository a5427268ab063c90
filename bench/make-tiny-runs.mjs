#!/usr/bin/env node
// Makes tiny Gage runs (meta schema "1") for scale tests: run ids, formats, read-only modes and
// fixed mtimes as in make-runs-corpus.mjs, and 8 files sent per run:
//   ID/train.py (~300-700 B) and ID/results/metrics.csv (~200-600 B), both unique to the run
//   ID.meta/ __schema__, id, opref, started, stopped, proc/exit
//   ID.user/<log entry id>.json (a label), and ID.project (never sent)
// Usage: node bench/make-tiny-runs.mjs --out DIR [--runs N] [--start-index K] [--seed S]
//          [--ids FILE (writes the run ids, one a line)]
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { micros, pythonJson } from "./corpus/contents.mjs";
import { logEntryId, randomRunId, SeededRandom } from "./corpus/random.mjs";
import { CorpusWriter } from "./corpus/writer.mjs";

const OPERATIONS = ["train", "eval", "prepare-data", "finetune", "sweep-trial"];
const MINUTE = 60_000;

function options(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: "string" },
      runs: { type: "string", default: "1" },
      "start-index": { type: "string", default: "0" },
      seed: { type: "string", default: "1" },
      ids: { type: "string" },
    },
  });
  if (!values.out) throw new Error("--out DIR is required");
  return { out: values.out, runs: Number(values.runs), startIndex: Number(values["start-index"]), seed: Number(values.seed), ids: values.ids };
}

function trainScript(random) {
  let text = `import json\nSEED = ${random.int(0, 99999)}\nLR = ${(random.next() * 1e-2).toExponential(3)}\n\n`;
  text += `def main():\n    print(json.dumps({"seed": SEED, "lr": LR}))\n`;
  for (let notes = random.int(1, 8); notes > 0; notes--) text += `# note ${random.hex(24)}: tuning entry ${random.int(0, 1000)}\n`;
  return `${text}main()\n`;
}

function metricsCsv(random) {
  let text = "step,loss,acc\n";
  let loss = 2 + random.next();
  let acc = 0.1;
  for (let row = random.int(5, 20); row > 0; row--) {
    loss *= 0.99;
    acc = Math.min(0.999, acc + random.next() * 0.02);
    text += `${row * 10},${loss.toFixed(6)},${acc.toFixed(5)}\n`;
  }
  return text;
}

function makeRun(writer, root, index, seed) {
  const random = new SeededRandom(seed, "run", index);
  const id = randomRunId(random);
  const t0 = Date.UTC(2024, 0, 1) + index * MINUTE + random.int(0, 50_000);
  const t1 = t0 + random.int(60_000, 20_000_000);
  const op = random.pick(OPERATIONS);
  const project = `proj-${random.int(1, 12)}`;
  const runDir = join(root, id);
  const metaDir = `${runDir}.meta`;
  const userDir = `${runDir}.user`;
  mkdirSync(join(runDir, "results"), { recursive: true });
  mkdirSync(join(metaDir, "proc"), { recursive: true });
  mkdirSync(userDir);
  writer.file(join(runDir, "train.py"), trainScript(random), t0);
  writer.file(join(runDir, "results", "metrics.csv"), metricsCsv(random), t1);
  writer.file(join(metaDir, "__schema__"), "1", t0);
  writer.file(join(metaDir, "id"), id, t0);
  writer.file(join(metaDir, "opref"), `1 ${project} ${op}`, t0);
  writer.file(join(metaDir, "started"), micros(t0 + 100), t0);
  writer.file(join(metaDir, "stopped"), micros(t1), t1);
  writer.file(join(metaDir, "proc", "exit"), random.next() < 0.9 ? "0" : "1", t1);
  const label = { author: "user", set: { label: `${op} run ${index}` }, delete: [] };
  writer.file(join(userDir, `${logEntryId(random, t0 + 10)}.json`), pythonJson(label), t0 + 10);
  writer.file(`${runDir}.project`, `file:/home/user/projects/${project}`, t0, 0o644);
  return id;
}

/** Writes `runs` tiny runs under `out` (numbered from `startIndex`); returns their ids in order. */
export function makeTinyRuns({ out, runs, startIndex = 0, seed = 1 }) {
  mkdirSync(out, { recursive: true });
  const writer = new CorpusWriter();
  const ids = [];
  for (let i = 0; i < runs; i++) ids.push(makeRun(writer, out, startIndex + i, seed));
  return { ids, files: writer.files, bytes: writer.bytes };
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  const opts = options(process.argv.slice(2));
  const started = performance.now();
  const { ids, files, bytes } = makeTinyRuns(opts);
  if (opts.ids) writeFileSync(opts.ids, `${ids.join("\n")}\n`);
  const { out, runs, startIndex } = opts;
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ out, runs, startIndex, files, bytes, seconds, firstId: ids[0], lastId: ids.at(-1) }));
}
