import { openStorage } from "../../src/remotes/open.js";
import type { Storage } from "../../src/remotes/storage.js";

/** `storage`, counting the pack index files read from it (in the order read). */
export function countIndexReads(storage: Storage): { storage: Storage; indexReads: string[] } {
  const indexReads: string[] = [];
  const getBytes = storage.getBytes.bind(storage);
  storage.getBytes = (key, range) => {
    if (key.endsWith(".idx")) indexReads.push(key);
    return getBytes(key, range);
  };
  return { storage, indexReads };
}

/** The folder remote at `path`, counting the pack index files read from it. */
export async function countedIndexReads(path: string): Promise<{ storage: Storage; indexReads: string[] }> {
  return countIndexReads(await openStorage(path));
}
