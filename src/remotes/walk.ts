import { compareKeys, TEMP_PREFIX } from "./keys.js";
import type { StorageEntry } from "./storage.js";

/** One entry of a folder in a backend that stores keys as nested files (local, SFTP). */
export interface FolderEntry {
  name: string;
  /** `lost-name`: the protocol could not carry the name's bytes (the entry cannot be named to read it). */
  kind: "file" | "folder" | "other" | "lost-name";
  size: number;
}

/** Lists a folder given by its `/`-joined path relative to the root ("" is the root); undefined when missing. */
export type ReadFolder = (relPath: string) => Promise<FolderEntry[] | undefined>;

/**
 * Walks a folder tree lazily, yielding keys that start with `prefix` in the `Storage.list` order
 * (UTF-8 byte order of whole keys). Sorting each folder by `name` for files and `name + "/"`
 * for folders makes a depth-first walk produce exactly that order, so nothing is held but one
 * folder listing per level. Temporary files are skipped; subtrees wholly at or before
 * `startAfter` are never read. An entry with a lost name among those listed fails the walk with
 * `lostName(key)`: skipping it would drop a file silently.
 */
export async function* walkKeys(
  readFolder: ReadFolder,
  prefix: string,
  startAfter?: string,
  lostName?: (key: string) => Error,
): AsyncGenerator<StorageEntry> {
  const slash = prefix.lastIndexOf("/");
  const baseFolder = slash < 0 ? "" : prefix.slice(0, slash);
  const namePrefix = prefix.slice(slash + 1);

  async function* walk(folder: string, filter: string): AsyncGenerator<StorageEntry> {
    const entries = await readFolder(folder);
    if (entries === undefined) return;
    const sorted = entries
      .filter((e) => e.kind !== "other" && e.name.startsWith(filter) && !e.name.startsWith(TEMP_PREFIX))
      .map((e) => ({ ...e, sortName: e.kind === "folder" ? `${e.name}/` : e.name }))
      .sort((a, b) => compareKeys(a.sortName, b.sortName));
    for (const entry of sorted) {
      const key = folder === "" ? entry.name : `${folder}/${entry.name}`;
      if (entry.kind === "lost-name") {
        if (lostName !== undefined && (startAfter === undefined || compareKeys(key, startAfter) > 0)) throw lostName(key);
        continue;
      }
      if (entry.kind === "file") {
        if (startAfter === undefined || compareKeys(key, startAfter) > 0) yield { key, size: entry.size };
        continue;
      }
      const subtree = `${key}/`;
      if (startAfter !== undefined && compareKeys(subtree, startAfter) < 0 && !startAfter.startsWith(subtree)) {
        continue;
      }
      yield* walk(key, "");
    }
  }

  yield* walk(baseFolder, namePrefix);
}
