// The scale rows (issue 16): the same commands against a large remote (100,000 tiny runs) and a
// small one (1,600), both built in this run the same way (128 pushes alternating between two
// members' runs directories), side by side. Each figure is a whole `gage` process: its time, and
// its peak RSS as the process itself reports it on exit (bench/rss-probe.mjs, loaded with
// `node --import`). The ratio is large / small. Opt-in: BENCH_SHAPES=scale (the build takes long).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTinyRuns } from "./make-tiny-runs.mjs";
import { startS3rver } from "./sync-cases.mjs";
import { duBytes, human, rmrf, run, timed } from "./util.mjs";

const GAGE = new URL("../dist/bundle/gage.cjs", import.meta.url).pathname;
const PROBE = new URL("./rss-probe.mjs", import.meta.url).href;
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const MiB = 2 ** 20;
/** Pushes that fill each remote, alternating between members A and B (B's is last). */
const PUSHES = 128;
const RUNS = { large: 100_000, small: 1_600 };
/** Runs member A keeps (the status and member-push rows run there). */
const MEMBER_RUNS = 2_000;
/** The peer's name: the same command on the small remote. */
export const SMALL = "small remote";
/** BENCH_SCALE_KEEP=DIR: keep each side as it stood before B's last push, and start from there next time. */
const KEEP = process.env.BENCH_SCALE_KEEP;

let probes = 0;
let newRuns = 0;

/** One `gage` process: its time, peak RSS (bytes) and output. */
async function gage(ctx, args, runsDir, env = {}) {
  const rssFile = join(ctx.work, `rss-${probes++}`);
  const { ms, stdout } = await timed(() =>
    run(process.execPath, ["--import", PROBE, GAGE, ...args], { env: { GAGE_RUNS: runsDir, TERM: "unknown", BENCH_RSS_FILE: rssFile, ...env } }),
  );
  const rss = Number(readFileSync(rssFile, "utf8"));
  rmSync(rssFile);
  return { value: ms, rss, stdout };
}

function removeRuns(dir, ids) {
  for (const id of ids) for (const part of ["", ".meta", ".user", ".project"]) rmSync(join(dir, id + part), { recursive: true, force: true });
}

/** Every key of a folder remote. */
function listKeys(root, dir = "") {
  const keys = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const key = dir === "" ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory()) keys.push(...listKeys(root, key));
    else keys.push(key);
  }
  return keys;
}

/** Keys that are neither heads nor packs (catalogs, whatever their layout), new since `before`. */
function newCatalogKeys(root, before) {
  const old = new Set(before);
  return listKeys(root).filter((k) => !old.has(k) && !k.startsWith("heads/") && !k.startsWith("packs/"));
}

/** One new tiny run (ids never repeat in a bench run). */
function newRun(dir) {
  return makeTinyRuns({ out: dir, runs: 1, startIndex: 10_000_000 + newRuns++, seed: 9 }).ids[0];
}

/**
 * Fills one remote: PUSHES pushes alternating A, B. B deletes its runs once pushed; A keeps its
 * newest MEMBER_RUNS (the small remote's A tops up with runs never pushed). A's last contact is the
 * push before last; B's last push writes a catalog (every 64 heads), so A is "right after a new
 * catalog". Before that last push A runs `status` once (untimed), warming its stat cache.
 */
async function buildRemote(ctx, name, log) {
  const total = Math.max(PUSHES, Math.round(RUNS[name] * SCALE));
  const keep = Math.max(1, Math.round(MEMBER_RUNS * SCALE));
  const seed = name === "large" ? 1 : 2;
  const dir = join(ctx.work, name);
  const side = { name, total, remote: join(dir, "remote"), a: join(dir, "a"), b: join(dir, "b"), aIds: [], bIds: [] };
  const t0 = performance.now();
  const kept = KEEP && join(KEEP, `${name}-${SCALE}`);
  // BENCH_DIR may hold an earlier run's sides.
  await rmrf(dir);
  let index = 0;
  let first = 0;
  let lastIds;
  if (kept && existsSync(join(kept, "ready.json"))) {
    ({ index, lastIds, aIds: side.aIds, bIds: side.bIds } = JSON.parse(readFileSync(join(kept, "ready.json"), "utf8")));
    mkdirSync(dir);
    for (const part of ["remote", "a", "b"]) await run("cp", ["-a", join(kept, part), join(dir, part)]);
    log(`${name}: ${PUSHES - 1}/${PUSHES} pushes taken from ${kept} (BENCH_SCALE_KEEP)`);
    first = PUSHES - 1;
  }
  for (let i = first; i < PUSHES; i++) {
    const n = Math.floor((total * (i + 1)) / PUSHES) - Math.floor((total * i) / PUSHES);
    const member = i % 2 === 0 ? side.a : side.b;
    const ids = lastIds ?? makeTinyRuns({ out: member, runs: n, startIndex: index, seed }).ids;
    if (lastIds === undefined) index += n;
    if (i === PUSHES - 1) {
      if (lastIds === undefined && side.aIds.length < keep) makeTinyRuns({ out: side.a, runs: keep - side.aIds.length, startIndex: 5_000_000, seed });
      if (kept && lastIds === undefined) await keepSide(kept, side, { index, lastIds: ids, aIds: side.aIds, bIds: side.bIds });
      await gage(ctx, ["status", side.remote], side.a);
      side.keysBefore = listKeys(side.remote);
    }
    await gage(ctx, ["push", side.remote, "-y"], member);
    if (member === side.b) {
      removeRuns(side.b, ids);
      side.bIds.push(ids[Math.floor(ids.length / 2)]);
    } else {
      side.aIds.push(...ids);
      removeRuns(side.a, side.aIds.splice(0, Math.max(0, side.aIds.length - keep)));
    }
    if ((i + 1) % 32 === 0) log(`${name}: ${i + 1}/${PUSHES} pushes, ${index.toLocaleString("en")} runs (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  // Should the catalog cadence change, B pushes one run at a time until a catalog appears.
  for (let extra = 0; newCatalogKeys(side.remote, side.keysBefore).length === 0; extra++) {
    if (extra > 2 * 64) throw new Error(`${name}: no catalog appeared after ${extra} more pushes`);
    const id = newRun(side.b);
    await gage(ctx, ["push", side.remote, "-y"], side.b);
    removeRuns(side.b, [id]);
  }
  side.pullId = side.bIds[Math.floor(side.bIds.length / 2)];
  return side;
}

/** Saves a side before its last push (the runs directories and the remote), for BENCH_SCALE_KEEP. */
async function keepSide(kept, side, state) {
  await rmrf(kept);
  mkdirSync(kept, { recursive: true });
  for (const part of ["remote", "a", "b"]) await run("cp", ["-a", side[part], join(kept, part)]);
  writeFileSync(join(kept, "ready.json"), JSON.stringify(state));
}

/** The s3rver bucket gets each folder remote's keys as they stood before and after B's last push. */
async function fillS3(ctx, sides) {
  await rmrf(join(ctx.work, "s3rver"));
  ctx.s3 = await startS3rver(join(ctx.work, "s3rver"));
  const { S3Client, PutObjectCommand } = await import("@aws-sdk/client-s3");
  ctx.s3.client = new S3Client({
    endpoint: ctx.s3.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
  });
  // Eight at a time: s3rver drops connections under more.
  const put = async (side, keys) => {
    for (let i = 0; i < keys.length; i += 8) {
      const batch = keys.slice(i, i + 8).map((key) => new PutObjectCommand({ Bucket: "bench", Key: `${side.name}/${key}`, Body: readFileSync(join(side.remote, key)) }));
      await Promise.all(batch.map((command) => ctx.s3.client.send(command)));
    }
  };
  for (const side of sides) {
    side.s3Url = `s3://bench/${side.name}`;
    await put(side, side.keysBefore);
    // A's view of the S3 remote, too, is from before the new catalog.
    await gage(ctx, ["status", side.s3Url], side.a, ctx.s3.gageEnv);
    const before = new Set(side.keysBefore);
    side.s3Keys = new Set(listKeys(side.remote));
    await put(side, [...side.s3Keys].filter((k) => !before.has(k)));
  }
}

/** Undoes a push: the folder remote from its pristine copy, or the S3 keys it added. */
async function restoreRemote(ctx, side, backend) {
  if (backend === "local") {
    await rmrf(side.remote);
    await run("cp", ["-a", `${side.remote}.pristine`, side.remote]);
    return;
  }
  const { ListObjectsV2Command, DeleteObjectCommand } = await import("@aws-sdk/client-s3");
  let token;
  do {
    const page = await ctx.s3.client.send(new ListObjectsV2Command({ Bucket: "bench", Prefix: `${side.name}/`, ContinuationToken: token }));
    for (const { Key } of page.Contents ?? []) {
      if (!side.s3Keys.has(Key.slice(side.name.length + 1))) await ctx.s3.client.send(new DeleteObjectCommand({ Bucket: "bench", Key }));
    }
    token = page.NextContinuationToken;
  } while (token);
}

/** Member A's local state as the build left it. */
async function restoreMember(side) {
  side.warm = undefined;
  await rmrf(join(side.a, ".gage-sync"));
  await run("cp", ["-a", `${side.a}.gage-sync.pristine`, join(side.a, ".gage-sync")]);
}

/** Builds both remotes (together), keeps pristine copies, and fills s3rver unless BENCH_S3=0. */
export async function prepareScale(work) {
  // A member's state names the remote by its path, so a kept side must come back to the same one.
  if (KEEP && !process.env.BENCH_DIR) throw new Error("BENCH_SCALE_KEEP needs BENCH_DIR (the same folder each time)");
  const ctx = { work };
  const log = (line) => console.log(`  building ${line}`);
  const t0 = performance.now();
  const [large, small] = await Promise.all([buildRemote(ctx, "large", log), buildRemote(ctx, "small", log)]);
  Object.assign(ctx, { large, small });
  if (process.env.BENCH_S3 !== "0") await fillS3(ctx, [large, small]);
  for (const side of [large, small]) {
    await run("cp", ["-a", side.remote, `${side.remote}.pristine`]);
    await run("cp", ["-a", join(side.a, ".gage-sync"), `${side.a}.gage-sync.pristine`]);
  }
  const sizes = `${human(await duBytes(large.remote), "bytes")} and ${human(await duBytes(small.remote), "bytes")}`;
  ctx.description =
    `${large.total.toLocaleString("en")} runs against ${small.total.toLocaleString("en")} (${SMALL}), ${PUSHES} pushes each, ` +
    `folder remotes of ${sizes}; built in ${((performance.now() - t0) / 1000).toFixed(0)} s`;
  ctx.cleanup = () => ctx.s3?.stop();
  return ctx;
}

/** How a row reaches a side's remote on one backend. */
function target(ctx, side, backend) {
  return backend === "local" ? { url: side.remote, env: {} } : { url: side.s3Url, env: ctx.s3.gageEnv };
}

/** A run of `fn` in a fresh, empty runs directory, removed afterwards. */
async function inFresh(ctx, fn) {
  const fresh = join(ctx.work, "fresh");
  await rmrf(fresh);
  mkdirSync(fresh);
  try {
    return await fn(fresh);
  } finally {
    await rmrf(fresh);
  }
}

const OPS = {
  "ls --remote, first page (fresh dir)": (ctx, side, backend) => {
    const { url, env } = target(ctx, side, backend);
    return inFresh(ctx, (dir) => gage(ctx, ["ls", "--remote", url], dir, env));
  },
  "ls --remote -a (fresh dir)": (ctx, side, backend) => {
    const { url, env } = target(ctx, side, backend);
    return inFresh(ctx, (dir) => gage(ctx, ["ls", "--remote", url, "-a"], dir, env));
  },
  "status (member, 2,000 runs)": async (ctx, side, backend) => {
    const { url, env } = target(ctx, side, backend);
    // Steady state: the first status after the new catalog takes it in, untimed.
    if (side.warm !== backend) await gage(ctx, ["status", url], side.a, env);
    side.warm = backend;
    return gage(ctx, ["status", url], side.a, env);
  },
  "push 1 run (fresh dir)": async (ctx, side, backend) => {
    const { url, env } = target(ctx, side, backend);
    const m = await inFresh(ctx, (dir) => {
      newRun(dir);
      return gage(ctx, ["push", url, "-y"], dir, env);
    });
    await restoreRemote(ctx, side, backend);
    return m;
  },
  "push 1 run (member, new catalog)": async (ctx, side, backend) => {
    const { url, env } = target(ctx, side, backend);
    await restoreMember(side);
    const id = newRun(side.a);
    try {
      // Named: the small remote's member also holds runs it never pushed.
      return await gage(ctx, ["push", url, id, "-y"], side.a, env);
    } finally {
      removeRuns(side.a, [id]);
      await restoreMember(side);
      await restoreRemote(ctx, side, backend);
    }
  },
  "pull 1 run (fresh dir)": (ctx, side, backend) => {
    const { url, env } = target(ctx, side, backend);
    return inFresh(ctx, async (dir) => {
      const m = await gage(ctx, ["pull", url, side.pullId, "-y"], dir, env);
      if (!existsSync(join(dir, `${side.pullId}.meta`))) throw new Error(`pull ${side.pullId} from ${url} did not write the run`);
      return m;
    });
  },
  "gc --dry-run": (ctx, side, backend) => {
    const { url, env } = target(ctx, side, backend);
    return inFresh(ctx, (dir) => gage(ctx, ["gc", url, "--dry-run"], dir, env));
  },
};

/** Peak RSS limits (issue 16): 300 MiB, and 500 MiB where the command reads every run (its only target: it must read them all). */
const MAX_RSS = { "ls --remote -a (fresh dir)": 500 * MiB, "gc --dry-run": 500 * MiB };

function rows(backend) {
  const suffix = backend === "local" ? "local" : "s3rver";
  const timeRows = Object.entries(OPS).map(([name, op]) => ({
    shape: "scale",
    name: `${name} (${suffix})`,
    kind: "time",
    repeat: 2,
    target: MAX_RSS[name] === undefined ? { peer: SMALL, ratio: 1.5 } : undefined,
    maxRss: MAX_RSS[name] ?? 300 * MiB,
    ours: (ctx) => op(ctx, ctx.large, backend),
    peers: { [SMALL]: (ctx) => op(ctx, ctx.small, backend) },
  }));
  const stateSize = (ctx, side) => {
    const { url, env } = target(ctx, side, backend);
    return inFresh(ctx, async (dir) => {
      await gage(ctx, ["ls", "--remote", url], dir, env);
      const state = join(dir, ".gage-sync");
      return { value: existsSync(state) ? await duBytes(state) : 0 };
    });
  };
  return [
    ...timeRows,
    {
      shape: "scale",
      name: `.gage-sync after ls --remote (${suffix})`,
      kind: "size",
      repeat: 1,
      // "A few MB, not the size of the whole catalog."
      maxValue: 5 * MiB,
      ours: (ctx) => stateSize(ctx, ctx.large),
      peers: { [SMALL]: (ctx) => stateSize(ctx, ctx.small) },
    },
  ];
}

export const SCALE_CASES = [...rows("local"), ...(process.env.BENCH_S3 === "0" ? [] : rows("s3"))];
