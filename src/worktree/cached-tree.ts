import { idOnlySink, snapshotDir, type FileIdCache, type SnapshotStats } from "../objects/index.js";

/** Thrown out of a snapshot by `cachedTreeId` at the first file the stat cache cannot answer. */
class NotCached extends Error {}

/**
 * Our tree id of a folder answered from the stat cache alone, undefined as soon as a file is
 * not (changed since its row, or too recent to trust): then nothing is read. A folder answered so
 * holds, byte for byte, what its files held when their rows were made, and so whatever was read
 * from it since (a row holds only while the file's stamp, change time included, is unchanged).
 */
export async function cachedTreeId(dir: string, cache: FileIdCache): Promise<{ treeId: string; stats: SnapshotStats } | undefined> {
  const only: FileIdCache = {
    lookup(path, stamp) {
      const ids = cache.lookup(path, stamp);
      if (ids === undefined) throw new NotCached();
      return ids;
    },
    // Never called: a miss stops the walk before any file is read.
    record: () => undefined,
    lookupDir: (path, signature) => cache.lookupDir(path, signature),
    recordDir: (path, signature, treeId, newestChangeMs) => cache.recordDir(path, signature, treeId, newestChangeMs),
  };
  try {
    return await snapshotDir(dir, { sink: idOnlySink, cache: only });
  } catch (err) {
    if (err instanceof NotCached) return undefined;
    throw err;
  }
}
