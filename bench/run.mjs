#!/usr/bin/env node
// `npm run bench`: generates corpora with bench/make-runs-corpus.mjs and prints our
// figures beside peer tools' (sha256sum, rsync, rclone, restic) on the same data, in the same run,
// as ratios against their targets (docs/performance.md). Runs against dist/ (npm run bench builds first).
//
// Environment:
//   BENCH_SCALE=0.1        shrink the corpora (number of runs; not checkpoint-variants) for a quick run
//   BENCH_ONLY=a,b         only cases whose name contains one of these (e.g. "snapshot,stored")
//   BENCH_SHAPES=a,b       only these shapes (many-small, few-large, checkpoint-variants; scale
//                          only when named: it builds a 100,000-run remote, which takes long)
//   BENCH_REPEAT=3         repetitions of the cheap (no-change) cases; the best is kept
//   BENCH_DIR=/path        work here instead of a fresh tmpfs (kept afterwards)
//   BENCH_JSON=file        also write the results as JSON
//   BENCH_S3=0             leave out the s3rver push/pull rows
import { spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CASES, PEER_TOOLS } from "./cases.mjs";
import { prepareScale } from "./scale-cases.mjs";
import { have, human, rmrf, run } from "./util.mjs";

const GENERATOR = new URL("./make-runs-corpus.mjs", import.meta.url).pathname;
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const SHAPES = (process.env.BENCH_SHAPES ?? "few-large,many-small,checkpoint-variants").split(",");
const ONLY = process.env.BENCH_ONLY?.split(",");
const MiB = 2 ** 20;
/** Shapes with a setup of their own instead of a generated runs directory. */
const SETUPS = { scale: prepareScale };

function corpusArgs(shape) {
  const runs = { "many-small": 2000, "few-large": 20, "checkpoint-variants": 10 }[shape];
  const args = ["--shape", shape, "--quiet"];
  // Variants are not scaled: the stored-bytes ratio depends on how many variants share one base.
  args.push("--runs", String(shape === "checkpoint-variants" ? runs : Math.max(1, Math.round(runs * SCALE))));
  return args;
}

function countFiles(dir) {
  let files = 0;
  let bytes = 0;
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const st = lstatSync(join(d, name));
      if (st.isDirectory()) walk(join(d, name));
      else if (st.isFile()) {
        files++;
        bytes += st.size;
      }
    }
  };
  walk(dir);
  return { files, bytes };
}

function workspace() {
  if (process.env.BENCH_DIR) {
    mkdirSync(process.env.BENCH_DIR, { recursive: true });
    return { root: process.env.BENCH_DIR, note: `working in ${process.env.BENCH_DIR} (BENCH_DIR)`, cleanup: () => undefined };
  }
  const root = mkdtempSync(join(tmpdir(), "gage-bench-"));
  const remove = () => {
    spawnSync("chmod", ["-R", "u+w", root]);
    spawnSync("rm", ["-rf", root]);
  };
  if (process.getuid?.() === 0) {
    const size = `${Math.max(2, Math.ceil(12 * SCALE))}g`;
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", root], { stdio: "ignore" }).status === 0;
    if (mounted) {
      return {
        root,
        note: `working in a ${size} tmpfs at ${root} (docs/performance.md: cold figures on a tmpfs)`,
        cleanup: () => {
          spawnSync("umount", [root]);
          rmdirSync(root);
        },
      };
    }
  }
  return { root, note: `NOTE: not root or mount failed: working in ${root}, not a tmpfs; cold figures may swing several-fold`, cleanup: remove };
}

/** A measurement's peak RSS, when the case took it. */
const peak = (m) => (m.rss === undefined ? "" : `, peak ${(m.rss / MiB).toFixed(0)} MiB`);

function ratioOf(kind, ours, peer) {
  return kind === "throughput" ? peer / ours : ours / peer;
}

function show(kind, value, bytes) {
  if (kind === "size") return human(value, "bytes");
  if (kind === "throughput") return `${human(value, "ms")} (${(bytes / MiB / (value / 1000)).toFixed(0)} MiB/s)`;
  return human(value, "ms");
}

/** Runs ours and each available peer `repeat` times, interleaved (load drifts), keeping the best. */
async function measureCase(c, ctx) {
  const tools = [["ours", c.ours], ...Object.entries(c.peers ?? {}).filter(([peer]) => have(PEER_TOOLS[peer] ?? peer))];
  const best = new Map();
  for (let i = 0; i < (c.repeat ?? REPEAT); i++) {
    for (const [name, fn] of tools) {
      const m = await fn(ctx);
      const prev = best.get(name);
      if (prev === undefined || (c.kind !== "size" && m.value < prev.value)) best.set(name, m);
    }
  }
  return best;
}

const ws = workspace();
const results = [];
let interrupted = false;
process.on("SIGINT", () => {
  interrupted = true;
  ws.cleanup();
  process.exit(130);
});
console.log(`gage-sync benchmark  scale=${SCALE}  ${ws.note}`);
const missing = [...new Set(Object.values(PEER_TOOLS))].filter((t) => !have(t));
if (missing.length > 0) console.log(`NOTE: peers missing (${missing.join(", ")}); their rows are skipped. Install: apt-get install rsync rclone restic`);
try {
  for (const shape of SHAPES) {
    const cases = CASES.filter((c) => c.shape === shape && (ONLY === undefined || ONLY.some((o) => c.name.includes(o))));
    if (cases.length === 0) continue;
    const work = join(ws.root, shape);
    mkdirSync(work, { recursive: true });
    let ctx;
    if (SETUPS[shape]) {
      console.log(`\n${shape}: building`);
      ctx = await SETUPS[shape](work);
      console.log(`${shape}: ${ctx.description}`);
    } else {
      const runsDir = join(work, "runs");
      const t0 = performance.now();
      await run(process.execPath, [GENERATOR, "--out", runsDir, ...corpusArgs(shape)]);
      const corpus = countFiles(runsDir);
      // Files changed within 2 s of being hashed are not trusted by the stat cache (racy mtimes).
      await new Promise((r) => setTimeout(r, 2500));
      console.log(
        `\n${shape}: ${corpus.files.toLocaleString("en")} files, ${human(corpus.bytes, "bytes")} (generated in ${((performance.now() - t0) / 1000).toFixed(0)} s)`,
      );
      ctx = { runsDir, work, corpus };
    }
    const bytes = ctx.corpus?.bytes;
    for (const c of cases) {
      const best = await measureCase(c, ctx);
      const ours = best.get("ours");
      const row = { shape, name: c.name, kind: c.kind, ours: ours.value, peers: {}, target: c.target, rss: ours.rss, maxRss: c.maxRss, maxValue: c.maxValue };
      const cells = [];
      for (const peer of Object.keys(c.peers ?? {})) {
        const m = best.get(peer);
        if (m === undefined) {
          cells.push(`${peer}: skipped (missing)`);
          continue;
        }
        const ratio = ratioOf(c.kind, ours.value, m.value);
        row.peers[peer] = { value: m.value, ratio, rss: m.rss };
        cells.push(`${peer} ${show(c.kind, m.value, bytes)}${peak(m)} → ${ratio.toFixed(2)}×`);
      }
      console.log(`  ${c.name.padEnd(26)} ours ${show(c.kind, ours.value, bytes)}${peak(ours)}${ours.note ? ` [${ours.note}]` : ""}`);
      for (const cell of cells) console.log(`  ${"".padEnd(26)} vs ${cell}`);
      results.push(row);
    }
    ctx.cleanup?.();
    await rmrf(work);
  }
} finally {
  if (!interrupted) ws.cleanup();
}

console.log("\nTargets (docs/performance.md):");
for (const r of results.filter((x) => x.target || x.maxValue)) {
  const limits = [];
  if (r.maxRss !== undefined && r.rss !== undefined) limits.push(`peak ${(r.rss / MiB).toFixed(0)} MiB (limit ${r.maxRss / MiB} MiB) ${r.rss < r.maxRss ? "MET" : "NOT MET"}`);
  if (r.maxValue !== undefined) limits.push(`${show(r.kind, r.ours)} (limit ${show(r.kind, r.maxValue)}) ${r.ours <= r.maxValue ? "MET" : "NOT MET"}`);
  if (r.target === undefined) {
    console.log(`  ${r.shape} ${r.name}: ${limits.join("; ")}`);
    continue;
  }
  const p = r.peers[r.target.peer];
  const cmp = r.kind === "throughput" ? "≥" : "≤";
  if (p === undefined) {
    console.log(`  ${r.shape} ${r.name}: peer ${r.target.peer} missing, not measured`);
    continue;
  }
  const met = r.kind === "throughput" ? p.ratio >= r.target.ratio : p.ratio <= r.target.ratio;
  console.log(`  ${r.shape} ${r.name}: ${p.ratio.toFixed(2)}× ${r.target.peer} (target ${cmp} ${r.target.ratio}×) ${met ? "MET" : "NOT MET"}${limits.map((l) => `; ${l}`).join("")}`);
}
if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify({ scale: SCALE, results }, null, 2));
