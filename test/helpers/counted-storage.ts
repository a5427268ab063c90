import { openStorage } from "../../src/remotes/open.js";
import type { Storage } from "../../src/remotes/storage.js";

export interface CountedStorage {
  storage: Storage;
  /** The pack index files read (in the order read). */
  indexReads: string[];
  /** The prefixes listed with sizes (`list`; `listKeys` lists names alone). */
  sizedLists: string[];
}

/** `storage`, counting the pack index files read from it and its listings with sizes. */
export function countIndexReads(storage: Storage): CountedStorage {
  const indexReads: string[] = [];
  const sizedLists: string[] = [];
  const getBytes = storage.getBytes.bind(storage);
  storage.getBytes = (key, range) => {
    if (key.endsWith(".idx")) indexReads.push(key);
    return getBytes(key, range);
  };
  const list = storage.list.bind(storage);
  storage.list = (prefix, options) => {
    sizedLists.push(prefix);
    return list(prefix, options);
  };
  return { storage, indexReads, sizedLists };
}

/** The folder remote at `path`, counting the pack index files read from it. */
export async function countedIndexReads(path: string): Promise<CountedStorage> {
  return countIndexReads(await openStorage(path));
}
