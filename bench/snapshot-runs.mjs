// Snapshots every run of a runs directory into a pack store, as `gage push` does before it
// uploads (each run's folder and meta folder, on worker threads, through the stat cache):
// `node bench/snapshot-runs.mjs RUNS_DIR STORE_DIR CACHE_FILE [--scan-first]`. Prints JSON stats.
// With --scan-first, as a push to a remote that knows the runs: each run is first compared
// through the stat cache on this thread (ids only, folders summed up on every core, while the
// store's index loads), and only runs whose trees the store lacks are stored. Runs as its own process so a no-change
// figure includes startup, cache and index loading.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { DirStorage } from "./dir-storage.mjs";

const dist = new URL("../dist/bundle/objects.js", import.meta.url);
const { PackWriter, addStats, emptyStats, loadPackIndex } = await import(dist.href);
const { StatCache, scanRunsHere, snapshotDirsOnWorkers } = await import(new URL("../dist/bundle/worktree.js", import.meta.url).href);

export async function snapshotRuns(runsDir, storeDir, cacheFile, { scanFirst = false } = {}) {
  const t0 = performance.now();
  const storage = new DirStorage(storeDir);
  const runIds = readdirSync(runsDir).filter((n) => /^[0-9a-f-]{36}$/.test(n));
  // As a push compares runs while it reads the remote's state: the scan starts once the stat
  // cache is in, while the store's index loads.
  const cacheLoaded = StatCache.load(cacheFile);
  // The runs directory joined once (as a push names run folders): a join per run was a visible
  // part of a no-change run, in this script rather than the library it measures.
  const under = join(runsDir, "/");
  const scanning = scanFirst ? cacheLoaded.then((cache) => scanRunsHere(runIds.map((runId) => ({ runsDir, runId, metaDir: `${under}${runId}.meta` })), { cache })) : undefined;
  const [cache, index] = await Promise.all([cacheLoaded, loadPackIndex(storage)]);
  const tLoaded = performance.now();
  const stats = emptyStats();
  let toStore = runIds;
  if (scanning) {
    toStore = [];
    const scans = await scanning;
    scans.forEach((scan, k) => {
      if (index.has(scan.files) && index.has(scan.meta)) addStats(stats, scan.stats);
      else toStore.push(runIds[k]);
    });
  }
  const writer = new PackWriter(storage, { index });
  const dirs = toStore.flatMap((id) => [join(runsDir, id), join(runsDir, `${id}.meta`)]).filter((d) => existsSync(d));
  const results = await snapshotDirsOnWorkers(dirs, { sink: writer, cache, cacheFile, stored: index });
  for (const r of results) addStats(stats, r.stats);
  const packs = await writer.flush();
  if (cache.dirty) await cache.save(cacheFile);
  return {
    runs: runIds.length,
    stored: toStore.length,
    stats,
    packs: packs.length,
    packBytes: packs.reduce((n, p) => n + p.bytes, 0),
    loadMs: tLoaded - t0,
    totalMs: performance.now() - t0,
  };
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  const [runsDir, storeDir, cacheFile] = process.argv.slice(2);
  const scanFirst = process.argv.includes("--scan-first");
  process.stdout.write(JSON.stringify(await snapshotRuns(runsDir, storeDir, cacheFile, { scanFirst })) + "\n");
}
