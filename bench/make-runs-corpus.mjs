#!/usr/bin/env node
// Makes a Gage runs directory (meta schema "1") for benchmarks and tests, deterministically:
// every file's bytes, mode and mtime are a pure function of the arguments (folder mtimes are not).
//
// Each run (its id drawn from the seed and the run's index):
//   ID/           gage.toml, train.py (~2 KB), requirements.txt, results/ (10-30 files of 1-50 KB:
//                 CSV, JSON, log) and, by shape, model.ckpt (random bytes)
//   ID.meta/      __schema__, id, opref, opdef.json, config.json, proc/{cmd.json,env.json,exit},
//                 sys/platform.json, initialized, staged, started, stopped, log/{runner,files},
//                 manifest (real SHA-256s), output/40_run and its index
//   ID.user/      1-3 user log entries (a label, sometimes a comment and a relabel)
//   ID.project    file:/home/user/projects/proj-N (mode 0644; every other file is 0444)
//
// Shapes:
//   many-small           2,000 runs, no checkpoints
//   few-large            20 runs, each with a 100 MiB checkpoint
//   checkpoint-variants  10 runs whose checkpoints are one 100 MiB base with 1% of its bytes
//                        replaced, in --variant-regions regions of one length (nothing shifts)
//
// Usage: node bench/make-runs-corpus.mjs --out DIR [--shape NAME] [--runs N] [--seed S]
//          [--checkpoint-size 100M] [--checkpoint-fraction F] [--gen-files MIN-MAX]
//          [--variant-change 0.01] [--variant-regions 10] [--start-index K] [--quiet]
// --start-index K makes runs K..K+N-1: more runs for the same corpus, none colliding with it.
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { gagefile, evalJson, metricsCsv, micros, outputIndex, pythonJson, runnerStamp, trainerLog, trainScript } from "./corpus/contents.mjs";
import { keystream, logEntryId, randomRunId, SeededRandom } from "./corpus/random.mjs";
import { CorpusWriter, sha256 } from "./corpus/writer.mjs";

const MiB = 1024 * 1024;
const SHAPES = {
  "many-small": { runs: 2000, checkpointSize: 0, checkpointFraction: 0, variants: false },
  "few-large": { runs: 20, checkpointSize: 100 * MiB, checkpointFraction: 1, variants: false },
  "checkpoint-variants": { runs: 10, checkpointSize: 100 * MiB, checkpointFraction: 1, variants: true },
};
const OPERATIONS = ["train", "eval", "prepare-data", "finetune", "sweep-trial"];
const REQUIREMENTS = "numpy>=1.24\ntorch>=2.1\npyyaml\n";
const PLATFORM = "Linux-6.1.0-18-amd64-x86_64-with-glibc2.36";
const HOUR = 3_600_000;

/** `100M`, `1.5GiB`, `512k`, `4096`: bytes. */
function parseSize(text) {
  const m = /^(\d+(?:\.\d+)?)([kmg]?)i?b?$/i.exec(text);
  if (!m) throw new Error(`bad size: ${text} (e.g. 100M, 512k)`);
  return Math.round(parseFloat(m[1]) * 1024 ** " kmg".indexOf(m[2].toLowerCase() || " "));
}

function options(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: "string" },
      shape: { type: "string", default: "many-small" },
      runs: { type: "string" },
      seed: { type: "string", default: "1" },
      "checkpoint-size": { type: "string" },
      "checkpoint-fraction": { type: "string" },
      "gen-files": { type: "string", default: "10-30" },
      "variant-change": { type: "string", default: "0.01" },
      "variant-regions": { type: "string", default: "10" },
      "start-index": { type: "string", default: "0" },
      quiet: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    const header = readFileSync(new URL(import.meta.url), "utf8").split("\n").filter((l) => l.startsWith("//"));
    process.stdout.write(`${header.map((l) => l.slice(3)).join("\n")}\n`);
    process.exit(0);
  }
  if (!values.out) throw new Error("--out DIR is required");
  const shape = SHAPES[values.shape];
  if (!shape) throw new Error(`unknown shape ${values.shape}; one of ${Object.keys(SHAPES).join(", ")}`);
  const [lo, hi] = values["gen-files"].split("-").map(Number);
  return {
    ...shape,
    out: values.out,
    shape: values.shape,
    seed: parseInt(values.seed, 10),
    startIndex: parseInt(values["start-index"], 10),
    genFiles: [lo, hi ?? lo],
    variantChange: parseFloat(values["variant-change"]),
    variantRegions: parseInt(values["variant-regions"], 10),
    quiet: values.quiet,
    ...(values.runs !== undefined && { runs: parseInt(values.runs, 10) }),
    ...(values["checkpoint-size"] !== undefined && { checkpointSize: parseSize(values["checkpoint-size"]) }),
    ...(values["checkpoint-fraction"] !== undefined && { checkpointFraction: parseFloat(values["checkpoint-fraction"]) }),
  };
}

/**
 * A run's checkpoint: its own random bytes, or for variants the one base every run shares with
 * `variantChange` of it replaced in `variantRegions` regions, one per equal slot, each placed at
 * random within its slot. Returns its SHA-256.
 */
function writeCheckpoint(writer, path, opts, index, mtimeMs) {
  const { seed, checkpointSize: size } = opts;
  if (!opts.variants) return writer.streamed(path, size, mtimeMs, keystream(seed, "ckpt", index, size));
  const random = new SeededRandom(seed, "variant", index);
  const count = Math.max(1, opts.variantRegions);
  const length = Math.floor(Math.round(size * opts.variantChange) / count);
  const slot = Math.floor(size / count);
  const regions = [];
  for (let i = 0; i < count; i++) regions.push([i * slot + random.int(0, Math.max(0, slot - length)), length]);
  return writer.streamed(path, size, mtimeMs, keystream(seed, "base-checkpoint", size), regions, keystream(seed, "variant-bytes", index));
}

function makeRun(writer, root, index, opts) {
  const random = new SeededRandom(opts.seed, "run", index);
  const id = randomRunId(random);
  const t0 = Date.UTC(2024, 0, 1) + index * HOUR + random.int(0, 3_000_000);
  const t1 = t0 + random.int(60_000, 20_000_000);
  const op = random.pick(OPERATIONS);
  const project = `proj-${random.int(1, 12)}`;
  const runDir = join(root, id);

  // The run's folder: its source, then what it generated.
  writer.dir(runDir);
  const sources = [
    ["gage.toml", gagefile(random, op, project)],
    ["train.py", trainScript(random)],
    ["requirements.txt", REQUIREMENTS],
  ];
  const files = []; // [type, path, sha256, mtime] for log/files and the manifest
  for (const [name, data] of sources) {
    writer.file(join(runDir, name), data, t0);
    files.push(["s", name, sha256(data), t0]);
  }
  writer.dir(join(runDir, "results"));
  const generatedCount = random.int(opts.genFiles[0], opts.genFiles[1]);
  for (let i = 0; i < generatedCount; i++) {
    const size = random.int(1024, 50 * 1024);
    const kind = random.pick(["csv", "json", "log"]);
    const stem = { csv: "metrics", json: "eval", log: "train" }[kind];
    const name = `results/${stem}-${String(i).padStart(3, "0")}.${kind}`;
    const data = kind === "csv" ? metricsCsv(random, size) : kind === "json" ? evalJson(random, size) : trainerLog(random, size, t0);
    const mtime = t0 + Math.floor(((t1 - t0) * (i + 1)) / (generatedCount + 1));
    writer.file(join(runDir, name), data, mtime);
    files.push(["g", name, sha256(data), mtime]);
  }
  if (opts.checkpointSize > 0 && random.next() < opts.checkpointFraction) {
    files.push(["g", "model.ckpt", writeCheckpoint(writer, join(runDir, "model.ckpt"), opts, index, t1), t1]);
  }

  // Metadata, as Gage writes it (meta schema "1").
  const metaDir = `${runDir}.meta`;
  writer.dir(metaDir);
  for (const sub of ["proc", "log", "output", "sys"]) writer.dir(join(metaDir, sub));
  const exitCode = random.next() < 0.9 ? 0 : 1;
  const config = { batch_size: random.pick([16, 32, 64]), epochs: random.int(1, 100), lr: +(random.next() * 1e-2).toFixed(5) };
  const tStart = t0 + random.int(100, 5000);
  const output = trainerLog(random, random.int(200, 4000), t0);
  const opdef = { config: "train.py", description: `${op} for ${project}`, exec: "python train.py" };
  const meta = [
    ["__schema__", "1", t0],
    ["id", id, t0],
    ["opref", `1 ${project} ${op}`, t0],
    ["opdef.json", JSON.stringify(opdef, null, 2), t0],
    ["config.json", JSON.stringify(config, null, 2), t0],
    ["proc/cmd.json", JSON.stringify("python train.py"), t0],
    ["proc/env.json", "{}", t0],
    ["sys/platform.json", JSON.stringify(PLATFORM), t0],
    ["initialized", micros(t0), t0],
    ["staged", micros(t0 + 50), t0],
    ["started", micros(tStart), tStart],
    ["stopped", micros(t1), t1],
    ["proc/exit", String(exitCode), t1],
    ["log/runner", [
      `${runnerStamp(t0)} Writing meta id`,
      `${runnerStamp(t0)} Copying source code (see log/files)`,
      `${runnerStamp(tStart)} Starting run process: python train.py`,
      `${runnerStamp(t1)} Writing meta proc/exit`,
    ].map((l) => `${l}\n`).join(""), t1],
    ["log/files", files.map(([type, path, , mtime]) => `a ${type} ${mtime * 1000} ${path}\n`).join(""), t1],
    ["manifest", files.map(([type, path, digest]) => `${type} ${digest} ${path}\n`).join(""), t1],
    ["output/40_run", output, t1],
    ["output/40_run.index", outputIndex(output, tStart, 37), t1],
  ];
  for (const [path, data, mtime] of meta) writer.file(join(metaDir, path), data, mtime);

  // The user log: the label given at run time, sometimes a comment, sometimes a relabel.
  const userDir = `${runDir}.user`;
  writer.dir(userDir);
  const entries = [{ author: "user", set: { label: `${op} epochs=${config.epochs} lr=${config.lr}` }, delete: [] }];
  if (random.next() < 0.5) {
    const commentMs = t1 + 60_000;
    const key = `comment:${logEntryId(random, commentMs).slice(0, 13)}`;
    const msg = `looks ${random.pick(["good", "off", "promising"])}`;
    entries.push({ author: "user", set: { [key]: { msg, timestamp: commentMs } }, delete: [] });
  }
  if (random.next() < 0.3) {
    const author = random.pick(["ana", "ben"]);
    entries.push({ author, set: { label: random.pick(["baseline", "best", "ablation"]) }, delete: [] });
  }
  entries.forEach((entry, i) => {
    const ms = t0 + 10 + i * 60_000;
    writer.file(join(userDir, `${logEntryId(random, ms)}.json`), pythonJson(entry), ms);
  });
  writer.file(`${runDir}.project`, `file:/home/user/projects/${project}`, t0, 0o644);
  return id;
}

function main() {
  const opts = options(process.argv.slice(2));
  const started = performance.now();
  mkdirSync(opts.out, { recursive: true });
  const writer = new CorpusWriter();
  const ids = [];
  for (let i = 0; i < opts.runs; i++) ids.push(makeRun(writer, opts.out, opts.startIndex + i, opts));
  if (opts.quiet) return;
  const { out, shape, seed, runs, startIndex, checkpointSize, checkpointFraction } = opts;
  const { files, dirs, bytes } = writer;
  const seconds = +((performance.now() - started) / 1000).toFixed(2);
  console.log(JSON.stringify({ out, shape, seed, runs, startIndex, checkpointSize, checkpointFraction, files, dirs, bytes, seconds, firstId: ids[0] }));
}

try {
  main();
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(2);
}
