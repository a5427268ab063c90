// Push and pull rows: our `gage push`/`gage pull` to a local directory remote against
// `rclone copy` and `rsync -a` to a plain directory, on the same corpus, in the same run: cold,
// no-change, and after one label edit plus one new run. Each figure is a whole CLI process
// (startup, stat cache and remote listing included), as a user runs it.
import { appendFileSync, chmodSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { bestOfFresh, GAGE, have, rmrf, run, timed } from "./util.mjs";

const GENERATOR = new URL("./make-runs-corpus.mjs", import.meta.url).pathname;

function gage(ctx, args, runsDir = ctx.runsDir) {
  return timed(() => run(GAGE, args, { env: { GAGE_RUNS: runsDir, TERM: "unknown" } }));
}

const rsync = (ctx) => run("rsync", ["-a", `${ctx.runsDir}/`, join(ctx.work, "sync-rsync")]);
const rclone = (ctx) => run("rclone", ["copy", "-q", ctx.runsDir, join(ctx.work, "sync-rclone")]);
const peers = {
  "rsync -a": async (ctx) => ({ value: (await timed(() => rsync(ctx))).ms }),
  "rclone copy": async (ctx) => ({ value: (await timed(() => rclone(ctx))).ms }),
};

/** The snapshot rows before the cold ones are done with their copies; the tmpfs needs the room. */
async function makeRoom(ctx) {
  for (const dir of ["rsync", "rclone", "restic", "store"]) await rmrf(join(ctx.work, dir));
}

/** The peers' cold copies: each into a fresh destination, kept for the re-runs of the rows after. */
const coldPeers = {
  "rsync -a": async (ctx) => {
    await makeRoom(ctx);
    await rmrf(join(ctx.work, "sync-rsync"));
    return { value: (await timed(() => rsync(ctx))).ms };
  },
  "rclone copy": async (ctx) => {
    await makeRoom(ctx);
    await rmrf(join(ctx.work, "sync-rclone"));
    return { value: (await timed(() => rclone(ctx))).ms };
  },
};

/** One label edit (a new user log file, as `gage label` writes) and one new run, made untimed. */
export async function editAndAddRun(ctx) {
  const id = readdirSync(ctx.runsDir).find((n) => n.endsWith(".user"));
  const userDir = join(ctx.runsDir, id);
  chmodSync(userDir, 0o755);
  const logId = `${Date.now().toString(16).padStart(12, "0").replace(/^(.{8})(.{4})$/, "$1-$2")}-4000-8000-${String(ctx.edits = (ctx.edits ?? 0) + 1).padStart(12, "0")}`;
  appendFileSync(join(userDir, `${logId}.json`), JSON.stringify({ author: "bench", set: { label: "edited" }, delete: [] }));
  const existing = readdirSync(ctx.runsDir).filter((n) => n.endsWith(".meta")).length;
  await run(process.execPath, [GENERATOR, "--out", ctx.runsDir, "--shape", ctx.shape, "--runs", "1", "--start-index", String(existing + 1000), "--quiet"]);
  // Files changed within 2 s of being hashed are not trusted by the stat cache (racy mtimes).
  await new Promise((r) => setTimeout(r, 2500));
}

/** A push or pull with nothing to do: checked to move no run. */
function noChange(shape, verb, target, peers) {
  return {
    shape,
    name: `${verb} no-change (local)`,
    kind: "time",
    target,
    async ours(ctx) {
      const { ms, stdout } = await gage(ctx, [verb, ctx.remote, "-y", "--json"]);
      if (JSON.parse(stdout).runs.length !== 0) throw new Error(`no-change ${verb} moved runs`);
      return { value: ms };
    },
    peers,
  };
}

/**
 * The local rows of one shape. `peers` are the tools compared; `clone` adds a cold pull. The
 * few-large rows compare with rclone alone and skip the clone, so that the corpus, our store and
 * one peer's copy fit the benchmark's tmpfs at full scale.
 */
function syncCases(shape, targets, { peers, clone }) {
  const rows = [
    // Best of two fresh runs for every side: one cold run swings with what the machine did just
    // before it, for us and the peers alike (docs/performance.md, "Cold rows").
    bestOfFresh({
      shape,
      name: "push cold (local dir)",
      kind: "time",
      target: targets.cold,
      async ours(ctx) {
        ctx.shape = shape;
        await makeRoom(ctx);
        ctx.remote = join(ctx.work, "sync-remote");
        await rmrf(ctx.remote);
        const { ms } = await gage(ctx, ["push", ctx.remote, "-y"]);
        return { value: ms };
      },
      peers: Object.fromEntries(Object.keys(peers).map((name) => [name, coldPeers[name]])),
    }),
    noChange(shape, "push", targets.noChange, peers),
    noChange(shape, "pull", targets.noChange, peers),
    {
      shape,
      name: "push 1 edit + 1 run (local)",
      kind: "time",
      // Each repetition makes a new edit and run, and the peers then copy that one run too.
      target: targets.noChange,
      async ours(ctx) {
        await editAndAddRun(ctx);
        const { ms } = await gage(ctx, ["push", ctx.remote, "-y"]);
        return { value: ms };
      },
      peers,
    },
  ];
  if (clone) rows.push(...cloneRows(shape, targets, Object.keys(peers)));
  return rows;
}

/**
 * The remote and the peers' copies the clone rows read, made untimed when the rows run alone
 * (BENCH_ONLY): the push cold row makes them otherwise.
 */
async function ensureRemote(ctx, shape, peerNames) {
  ctx.shape = shape;
  if (ctx.remote === undefined) {
    ctx.remote = join(ctx.work, "sync-remote");
    await rmrf(ctx.remote);
    await rmrf(join(ctx.runsDir, ".gage-sync"));
    await gage(ctx, ["push", ctx.remote, "-y"]);
  }
  // A peer missing here is skipped by its row: its copy is not made.
  if (peerNames.includes("rsync -a") && have("rsync") && !existsSync(join(ctx.work, "sync-rsync"))) await rsync(ctx);
  if (peerNames.includes("rclone copy") && have("rclone") && !existsSync(join(ctx.work, "sync-rclone"))) await rclone(ctx);
}

/**
 * A cold pull: `gage clone` of the whole remote, against copying the peers' copies afresh; then
 * (with `targets.afterClone`) the first push from the clone, against the peers' re-runs over their
 * fresh copies. The copies are kept from the first row for the second.
 */
function cloneRows(shape, targets, peerNames) {
  const dests = { ours: "sync-clone", "rsync -a": "sync-rsync-clone", "rclone copy": "sync-rclone-clone" };
  const rsyncClone = (ctx) => timed(() => run("rsync", ["-a", `${join(ctx.work, "sync-rsync")}/`, join(ctx.work, dests["rsync -a"])]));
  const rcloneClone = (ctx) => timed(() => run("rclone", ["copy", "-q", join(ctx.work, "sync-rclone"), join(ctx.work, dests["rclone copy"])]));
  const clonePeers = {
    "rsync -a": async (ctx) => {
      await rmrf(join(ctx.work, dests["rsync -a"]));
      return { value: (await rsyncClone(ctx)).ms };
    },
    "rclone copy": async (ctx) => {
      await rmrf(join(ctx.work, dests["rclone copy"]));
      return { value: (await rcloneClone(ctx)).ms };
    },
  };
  const rows = [
    {
      shape,
      name: "pull cold (clone, local)",
      kind: "time",
      // Best of two fresh clones for each side (a clone is cold work, as the cold push is).
      repeat: 2,
      target: targets.clone,
      async ours(ctx) {
        await ensureRemote(ctx, shape, peerNames);
        const dest = join(ctx.work, dests.ours);
        await rmrf(dest);
        const { ms } = await gage(ctx, ["clone", ctx.remote, dest]);
        // Without the next row nothing reads the clone: its room goes back to the tmpfs.
        if (targets.afterClone === undefined) await rmrf(dest);
        return { value: ms };
      },
      peers: Object.fromEntries(
        peerNames.map((name) => [
          name,
          async (ctx) => {
            const m = await clonePeers[name](ctx);
            if (targets.afterClone === undefined) await rmrf(join(ctx.work, dests[name]));
            return m;
          },
        ]),
      ),
    },
  ];
  if (targets.afterClone === undefined) return rows;
  rows.push(
    {
      shape,
      name: "push after clone (local)",
      kind: "time",
      repeat: 1,
      target: targets.afterClone,
      // The clone's first push: checked to move nothing (every file answered by the stat cache
      // the clone left), against each peer's re-run over the copy it just made.
      async ours(ctx) {
        const dest = join(ctx.work, dests.ours);
        const { ms, stdout } = await gage(ctx, ["push", ctx.remote, "-y", "--json"], dest);
        if (JSON.parse(stdout).runs.length !== 0) throw new Error("the push after a clone moved runs");
        await rmrf(dest);
        return { value: ms };
      },
      peers: {
        "rsync -a": async (ctx) => {
          const { ms } = await rsyncClone(ctx);
          await rmrf(join(ctx.work, dests["rsync -a"]));
          return { value: ms };
        },
        "rclone copy": async (ctx) => {
          const { ms } = await rcloneClone(ctx);
          await rmrf(join(ctx.work, dests["rclone copy"]));
          return { value: ms };
        },
      },
    },
  );
  return rows;
}

export const SYNC_CASES = [
  ...syncCases(
    "many-small",
    {
      cold: { peer: "rclone copy", ratio: 0.6 },
      noChange: { peer: "rclone copy", ratio: 0.3 },
      clone: { peer: "rclone copy", ratio: 0.6 },
      afterClone: { peer: "rclone copy", ratio: 0.3 },
    },
    { peers, clone: true },
  ),
  // Issue 6 sets few-large a cold target only: its no-change rows (881 files) are mostly node's
  // start-up against a 0.1 s rclone re-run, shown for information. Its clone rows delete each
  // copy once measured, so the corpus, our store and two copies fit the tmpfs.
  ...syncCases(
    "few-large",
    { cold: { peer: "rclone copy", ratio: 1.0 }, clone: { peer: "rclone copy", ratio: 1.0 } },
    { peers: { "rclone copy": peers["rclone copy"] }, clone: true },
  ),
];

// s3rver rows: the same push and pull against a real S3 HTTP server (s3rver, in its own process),
// with `rclone copy` to the same server as the peer. s3rver runs under --openssl-legacy-provider
// (docs/design.md §8: listings past 1,000 keys fail without it).
const S3RVER_CHILD = `
const S3rver = require(require.resolve("s3rver", { paths: [process.cwd()] }));
const [directory] = process.argv.slice(1);
const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory, configureBuckets: [{ name: "bench", configs: [] }] });
server.run().then((addr) => process.stdout.write(JSON.stringify(addr) + "\\n"), (err) => { console.error(err); process.exit(1); });
process.stdin.on("end", () => process.exit(0)).resume();
`;

export async function startS3rver(dir) {
  const { spawn } = await import("node:child_process");
  const child = spawn(process.execPath, ["--openssl-legacy-provider", "-e", S3RVER_CHILD, dir], {
    cwd: new URL("..", import.meta.url).pathname,
    stdio: ["pipe", "pipe", "inherit"],
  });
  const port = await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("\n")) resolve(JSON.parse(out.split("\n")[0]).port);
    });
    child.once("exit", (code) => reject(new Error(`s3rver exited (${code})`)));
  });
  // The bench must be able to exit with the server up: its stdin closing then ends it.
  for (const handle of [child, child.stdin, child.stdout]) handle.unref();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    stop: () => child.kill("SIGKILL"),
    gageEnv: {
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
      AWS_REGION: "us-east-1",
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_CONFIG_FILE: join(dir, "none"),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, "none"),
    },
    rcloneEnv: {
      RCLONE_CONFIG_S3R_TYPE: "s3",
      RCLONE_CONFIG_S3R_PROVIDER: "Other",
      RCLONE_CONFIG_S3R_ENDPOINT: endpoint,
      RCLONE_CONFIG_S3R_ACCESS_KEY_ID: "S3RVER",
      RCLONE_CONFIG_S3R_SECRET_ACCESS_KEY: "S3RVER",
      RCLONE_CONFIG_S3R_FORCE_PATH_STYLE: "true",
    },
  };
}

const s3Peers = {
  // rclone refuses a custom CA bundle with a plain-HTTP endpoint: the machine's AWS_CA_BUNDLE goes.
  "rclone copy": async (ctx) => ({
    value: (await timed(() => run("env", ["-u", "AWS_CA_BUNDLE", "rclone", "copy", "-q", ctx.runsDir, "s3r:bench/rclone"], { env: ctx.s3.rcloneEnv }))).ms,
  }),
};

function gageS3(ctx, args) {
  return timed(() => run(GAGE, args, { env: { GAGE_RUNS: ctx.runsDir, TERM: "unknown", ...ctx.s3.gageEnv } }));
}

/** A fresh s3rver, its bucket empty. */
async function freshS3rver(ctx) {
  ctx.s3?.stop();
  const dir = join(ctx.work, "s3rver");
  await rmrf(dir);
  await run("mkdir", ["-p", dir]);
  ctx.s3 = await startS3rver(dir);
  ctx.s3Pushed = false;
  ctx.s3Plain = false;
}

function s3Cases(shape) {
  return [
    {
      shape,
      name: "push cold (s3rver)",
      kind: "time",
      repeat: 1,
      target: { peer: "rclone copy", ratio: 0.2 },
      async ours(ctx) {
        await freshS3rver(ctx);
        await rmrf(join(ctx.runsDir, ".gage-sync"));
        const { ms } = await gageS3(ctx, ["push", "s3://bench/gage", "-y"]);
        ctx.s3Pushed = true;
        return { value: ms };
      },
      peers: s3Peers,
    },
    ...["push", "pull"].map((verb) => ({
      shape,
      name: `${verb} no-change (s3rver)`,
      kind: "time",
      async ours(ctx) {
        const { ms, stdout } = await gageS3(ctx, [verb, "s3://bench/gage", "-y", "--json"]);
        if (JSON.parse(stdout).runs.length !== 0) throw new Error(`no-change ${verb} moved runs`);
        return { value: ms };
      },
      peers: s3Peers,
    })),
    {
      shape,
      name: "push 1 edit + 1 run (s3rver)",
      kind: "time",
      repeat: 1,
      async ours(ctx) {
        await editAndAddRun(ctx);
        // The server stays up for the peer; it exits with this process (its stdin closes).
        const { ms } = await gageS3(ctx, ["push", "s3://bench/gage", "-y"]);
        return { value: ms };
      },
      peers: s3Peers,
    },
    {
      shape,
      name: "pull cold (clone, s3rver)",
      kind: "time",
      repeat: 1,
      target: { peer: "rclone copy", ratio: 0.3 },
      // `gage clone` of the store, against rclone copying the same runs in the plain layout (as
      // `gage copy --to` leaves them: a file per object) out of the same bucket.
      async ours(ctx) {
        // The local clone rows' copies are done with: the tmpfs needs the room.
        for (const dir of ["sync-clone", "sync-rsync-clone", "sync-rclone-clone"]) await rmrf(join(ctx.work, dir));
        if (ctx.s3 === undefined) await freshS3rver(ctx);
        if (!ctx.s3Pushed) {
          await rmrf(join(ctx.runsDir, ".gage-sync"));
          await gageS3(ctx, ["push", "s3://bench/gage", "-y"]);
          ctx.s3Pushed = true;
        }
        const dest = join(ctx.work, "s3-clone");
        await rmrf(dest);
        const { ms } = await gageS3(ctx, ["clone", "s3://bench/gage", dest]);
        await rmrf(dest);
        return { value: ms };
      },
      peers: {
        "rclone copy": async (ctx) => {
          if (!ctx.s3Plain) {
            await gageS3(ctx, ["copy", "--to", "s3://bench/plain", "--all", "-y"]);
            ctx.s3Plain = true;
          }
          const dest = join(ctx.work, "s3-rclone-clone");
          await rmrf(dest);
          const { ms } = await timed(() => run("env", ["-u", "AWS_CA_BUNDLE", "rclone", "copy", "-q", "s3r:bench/plain", dest], { env: ctx.s3.rcloneEnv }));
          await rmrf(dest);
          return { value: ms };
        },
      },
    },
  ];
}

// BENCH_S3=0 leaves them out (rclone against s3rver takes minutes per row at full scale).
if (process.env.BENCH_S3 !== "0") SYNC_CASES.push(...s3Cases("many-small"));
