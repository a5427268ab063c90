// The verify row (issue 15): `gage verify --read-data` over the many-small store, which reads and
// hashes every object the runs reach, against `sha256sum` of the store's pack files (the same
// bytes, one pass). Both are whole processes. The store is the one the push rows wrote
// (sync-cases.mjs), or pushed here untimed when this row runs alone (BENCH_ONLY=verify).
import { join } from "node:path";
import { GAGE, rmrf, run, timed } from "./util.mjs";


function gage(ctx, args) {
  return run(GAGE, args, { env: { GAGE_RUNS: ctx.runsDir, TERM: "unknown" } });
}

export const VERIFY_CASES = [
  {
    shape: "many-small",
    name: "verify --read-data (local)",
    kind: "throughput",
    target: { peer: "sha256sum", ratio: 0.8 },
    async ours(ctx) {
      if (ctx.remote === undefined) {
        ctx.remote = join(ctx.work, "sync-remote");
        await rmrf(ctx.remote);
        await gage(ctx, ["push", ctx.remote, "-y"]);
      }
      const { ms, stdout } = await timed(() => gage(ctx, ["verify", ctx.remote, "--read-data", "--json"]));
      const doc = JSON.parse(stdout);
      if (doc.status !== "ok" || doc.counts.readObjects < doc.counts.objects) throw new Error(`verify did not read a clean store whole: ${stdout.slice(0, 500)}`);
      return { value: ms, note: `${doc.counts.readObjects} objects, ${(doc.counts.readBytes / 2 ** 20).toFixed(0)} MiB in ${doc.counts.packs} packs` };
    },
    peers: {
      sha256sum: async (ctx) => ({
        value: (await timed(() => run("sh", ["-c", 'find "$1/packs" -name "*.pack" -print0 | xargs -0 sha256sum > /dev/null', "sh", ctx.remote]))).ms,
      }),
    },
  },
];
