// The benchmark cases: one row per figure. Each case names its corpus shape, how to prepare
// (untimed), how to measure ours and each peer (a number in `unit`), and optionally a target
// ratio ours/peer. To add a row (e.g. push or pull to a local remote), append an object here.
//
//   kind "time":       value is ms, ratio = ours / peer, target met when ratio <= target
//   kind "throughput": value is ms over the same bytes, ratio = peer / ours (throughput ratio),
//                      target met when ratio >= target
//   kind "size":       value is bytes, ratio = ours / peer, target met when ratio <= target
import { join } from "node:path";
import { bestOfFresh, duBytes, rmrf, run, timed } from "./util.mjs";
import { SYNC_CASES } from "./sync-cases.mjs";
import { SERVE_CASES } from "./serve-cases.mjs";
import { VERIFY_CASES } from "./verify-cases.mjs";
import { GIT_CASES } from "./git-cases.mjs";
import { SCALE_CASES, SMALL } from "./scale-cases.mjs";

const SNAPSHOT = new URL("./snapshot-runs.mjs", import.meta.url).pathname;

/**
 * Our snapshot of a whole runs directory, in its own process (startup, cache and index included).
 * `scanFirst`: compare every run through the stat cache first, as a push does for runs the remote knows.
 */
async function snapshotProcess(ctx, store, cache, { scanFirst = false } = {}) {
  // Started as bin/gage starts the command it models: Node does not read NODE_EXTRA_CA_CERTS at
  // start (the script makes no TLS connection; docs/performance.md, "Node's start").
  const env = { NODE_EXTRA_CA_CERTS: "" };
  const { ms, stdout } = await timed(() => run(process.execPath, [SNAPSHOT, ctx.runsDir, store, cache, ...(scanFirst ? ["--scan-first"] : [])], { env }));
  return { ms, detail: JSON.parse(stdout) };
}

const restic = (ctx, repo) => ({ RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: "bench", RESTIC_CACHE_DIR: join(ctx.work, "restic-cache") });

/** A copy of the runs directory by rsync and rclone: the first call copies, later ones re-run. */
const COPY_PEERS = {
  "rsync -a": async (ctx) => ({ value: (await timed(() => run("rsync", ["-a", `${ctx.runsDir}/`, join(ctx.work, "rsync")]))).ms }),
  "rclone copy": async (ctx) => ({ value: (await timed(() => run("rclone", ["copy", "-q", ctx.runsDir, join(ctx.work, "rclone")]))).ms }),
};

/** `COPY_PEERS` into a fresh destination each time (cold rows); the last copies stay for the re-runs. */
const COLD_COPY_PEERS = Object.fromEntries(
  Object.entries(COPY_PEERS).map(([name, copy]) => [
    name,
    async (ctx) => {
      await rmrf(join(ctx.work, name === "rsync -a" ? "rsync" : "rclone"));
      return copy(ctx);
    },
  ]),
);

export const CASES = [
  {
    shape: "few-large",
    name: "cold snapshot throughput",
    kind: "throughput",
    target: { peer: "sha256sum", ratio: 0.8 },
    repeat: 2,
    async ours(ctx) {
      const store = join(ctx.work, "store-cold");
      await rmrf(store);
      const { ms, detail } = await snapshotProcess(ctx, store, join(ctx.work, "cache-cold"));
      await rmrf(store);
      await rmrf(join(ctx.work, "cache-cold"));
      return { value: ms, note: `${detail.stats.hashedFiles} files hashed, ${detail.packs} packs` };
    },
    peers: {
      sha256sum: async (ctx) => ({ value: (await timed(() => run("sh", ["-c", 'find "$1" -type f -print0 | xargs -0 sha256sum > /dev/null', "sh", ctx.runsDir]))).ms }),
    },
  },
  bestOfFresh({
    shape: "many-small",
    name: "cold snapshot",
    kind: "time",
    async ours(ctx) {
      ctx.store = join(ctx.work, "store");
      ctx.cache = join(ctx.work, "stat-cache");
      await rmrf(ctx.store);
      await rmrf(ctx.cache);
      const { ms, detail } = await snapshotProcess(ctx, ctx.store, ctx.cache);
      return { value: ms, note: `${detail.packs} packs, ${(detail.packBytes / 2 ** 20).toFixed(0)} MiB stored` };
    },
    peers: COLD_COPY_PEERS,
  }),
  {
    shape: "many-small",
    name: "no-change re-snapshot",
    kind: "time",
    target: { peer: "rclone copy", ratio: 0.3 },
    async ours(ctx) {
      // Run alone (BENCH_ONLY), it first stores the corpus once, untimed.
      if (ctx.store === undefined) {
        ctx.store = join(ctx.work, "store");
        ctx.cache = join(ctx.work, "stat-cache");
        await snapshotProcess(ctx, ctx.store, ctx.cache);
      }
      // Untimed: the stores above never read user logs (a push stores them apart), so the first
      // comparison hashes them into the stat cache.
      await snapshotProcess(ctx, ctx.store, ctx.cache, { scanFirst: true });
      const { ms, detail } = await snapshotProcess(ctx, ctx.store, ctx.cache, { scanFirst: true });
      if (detail.stats.hashedFiles !== 0 || detail.packs !== 0 || detail.stored !== 0) throw new Error(`no-change snapshot did work: ${JSON.stringify(detail)}`);
      return { value: ms, note: `in-process ${detail.totalMs.toFixed(0)} ms; cache and index loaded by ${detail.loadMs.toFixed(0)} ms, the scan alongside` };
    },
    peers: {
      ...COPY_PEERS,
      find: async (ctx) => ({ value: (await timed(() => run("sh", ["-c", 'find "$1" > /dev/null', "sh", ctx.runsDir]))).ms }),
    },
  },
  {
    shape: "checkpoint-variants",
    name: "stored bytes",
    kind: "size",
    target: { peer: "restic backup", ratio: 0.5 },
    repeat: 1,
    async ours(ctx) {
      const store = join(ctx.work, "store");
      const { detail } = await snapshotProcess(ctx, store, join(ctx.work, "stat-cache"));
      return { value: await duBytes(store), note: `${detail.packs} packs` };
    },
    peers: {
      "restic backup": async (ctx) => {
        const env = restic(ctx, join(ctx.work, "restic"));
        await run("restic", ["init", "-q"], { env });
        await run("restic", ["backup", "-q", ctx.runsDir], { env });
        return { value: await duBytes(join(ctx.work, "restic")) };
      },
    },
  },
];

CASES.push(...SYNC_CASES, ...VERIFY_CASES, ...SERVE_CASES, ...GIT_CASES, ...SCALE_CASES);

/** Which executable each peer needs. */
export const PEER_TOOLS = { sha256sum: "sha256sum", "rsync -a": "rsync", "rclone copy": "rclone", "restic backup": "restic", find: "find", "git add+commit+push": "git", "git clone file://": "git", [SMALL]: "node" };
