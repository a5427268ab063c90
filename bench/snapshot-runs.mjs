// Snapshots every run of a runs directory into a pack store, as `gage push` does before it
// uploads (each run's folder and meta folder, on worker threads, through the stat cache):
// `node bench/snapshot-runs.mjs RUNS_DIR STORE_DIR CACHE_FILE`. Prints JSON stats.
// Runs as its own process so a no-change figure includes startup, cache and index loading.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { DirStorage } from "./dir-storage.mjs";

const dist = new URL("../dist/objects/index.js", import.meta.url);
const { PackWriter, StatCache, addStats, emptyStats, loadPackIndex, snapshotDirsOnWorkers } = await import(dist.href);

export async function snapshotRuns(runsDir, storeDir, cacheFile) {
  const t0 = performance.now();
  const storage = new DirStorage(storeDir);
  const [cache, index] = await Promise.all([StatCache.load(cacheFile), loadPackIndex(storage)]);
  const tLoaded = performance.now();
  const writer = new PackWriter(storage, { index });
  const runIds = readdirSync(runsDir).filter((n) => /^[0-9a-f-]{36}$/.test(n));
  const dirs = runIds.flatMap((id) => [join(runsDir, id), join(runsDir, `${id}.meta`)]).filter((d) => existsSync(d));
  const results = await snapshotDirsOnWorkers(dirs, { sink: writer, cache, cacheFile, stored: index });
  const stats = emptyStats();
  for (const r of results) addStats(stats, r.stats);
  const packs = await writer.flush();
  if (cache.dirty) await cache.save(cacheFile);
  return {
    runs: runIds.length,
    stats,
    packs: packs.length,
    packBytes: packs.reduce((n, p) => n + p.bytes, 0),
    loadMs: tLoaded - t0,
    totalMs: performance.now() - t0,
  };
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  const [runsDir, storeDir, cacheFile] = process.argv.slice(2);
  process.stdout.write(JSON.stringify(await snapshotRuns(runsDir, storeDir, cacheFile)) + "\n");
}
