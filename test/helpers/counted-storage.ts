import { openStorage } from "../../src/remotes/open.js";
import type { Storage } from "../../src/remotes/storage.js";

/** The remote at `path`, counting the pack index files read from it (in the order read). */
export async function countedIndexReads(path: string): Promise<{ storage: Storage; indexReads: string[] }> {
  const storage = await openStorage(path);
  const indexReads: string[] = [];
  const getBytes = storage.getBytes.bind(storage);
  storage.getBytes = (key, range) => {
    if (key.endsWith(".idx")) indexReads.push(key);
    return getBytes(key, range);
  };
  return { storage, indexReads };
}
