// `gage serve` rows (issue 17): the corpus pushed to a folder store, then served by the built
// `gage serve STORE`: time from starting the process to the first runs-table response (50 rows),
// to a run page (its meta read from the objects), the same pages warm (the runs page after the
// remote's heads are listed again), and the server's memory (RSS) after them.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { GAGE, run } from "./util.mjs";


async function timedGet(url) {
  const t0 = performance.now();
  const res = await fetch(url);
  const body = await res.json();
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${JSON.stringify(body)}`);
  return { ms: performance.now() - t0, body };
}

/** Starts `gage serve STORE --port 0`; resolves with the process, its URL and the start time. */
function startServe(store, runsDir) {
  const t0 = performance.now();
  const child = spawn(GAGE, ["serve", store, "--port", "0"], { env: { ...process.env, GAGE_RUNS: runsDir }, stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    child.stdout.on("data", (d) => {
      out += d;
      const m = / at (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1], t0 });
    });
    child.on("exit", (code) => reject(new Error(`gage serve exited ${code}: ${err}`)));
  });
}

function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function pushedStore(ctx) {
  if (ctx.serveStore === undefined) {
    const store = join(ctx.work, "serve-store");
    await run(GAGE, ["push", store, "-y"], { env: { GAGE_RUNS: ctx.runsDir, TERM: "unknown" } });
    ctx.serveStore = store;
  }
  return ctx.serveStore;
}

export const SERVE_CASES = [
  {
    shape: "many-small",
    name: "serve first runs page",
    kind: "time",
    repeat: 2,
    async ours(ctx) {
      const store = await pushedStore(ctx);
      const { child, url, t0 } = await startServe(store, join(ctx.work, "no-runs"));
      try {
        const first = await timedGet(`${url}api/runs?limit=50`);
        const firstMs = performance.now() - t0;
        const id = first.body.runs[25].id;
        const runCold = await timedGet(`${url}api/runs/${id}`);
        const other = first.body.runs[26].id;
        const runWarm = await timedGet(`${url}api/runs/${other}`);
        // Past the refresh interval: the warm runs page lists the remote's heads again.
        await new Promise((r) => setTimeout(r, 2200));
        const pageWarm = await timedGet(`${url}api/runs?limit=50&offset=1000`);
        const rss = rssMiB(child.pid);
        return {
          value: firstMs,
          note: `${first.body.total} runs; first page request ${first.ms.toFixed(0)} ms; run page ${runCold.ms.toFixed(0)} ms cold, ${runWarm.ms.toFixed(0)} ms next; runs page warm ${pageWarm.ms.toFixed(0)} ms; RSS ${rss.toFixed(0)} MiB`,
        };
      } finally {
        child.kill("SIGINT");
      }
    },
  },
];
