import type { ListedIndex, WrittenPack } from "../objects/index.js";
import { listPackIndexes, loadPackIndexKept, PackIndex } from "../objects/index.js";
import type { Session } from "./session.js";

/**
 * The remote's pack indexes, from the copies the runs directory keeps (src/state) for keys the
 * remote lists now, and from the remote for the others: a push or pull reads only the index files
 * written since, not one per pack (a GET each on S3). A key names one content, so a kept copy is
 * never stale (docs/formats.md, Pack indexes).
 */
export async function loadRemotePackIndex(s: Session, listed?: readonly ListedIndex[]): Promise<PackIndex> {
  const { index, files } = await loadPackIndexKept(s.remote.storage, s.state.keptIndexes(), listed === undefined ? {} : { listed });
  s.state.setKeptIndexes(files);
  return index;
}

/**
 * The indexes of the packs `packs` names (a pull's pack hints), kept or read, and `rest`, which
 * adds every other index the remote lists (kept or read) to the same index: called when an object
 * is not in the hinted packs. Index files read are kept as a full load keeps them.
 */
export async function loadHintedPackIndex(s: Session, packs: ReadonlySet<string>): Promise<{ index: PackIndex; rest: () => Promise<void> }> {
  const kept = s.state.keptIndexes();
  const { index, files } = await loadPackIndexKept(s.remote.storage, kept, { packs });
  s.state.addKeptIndexes(new Map([...files].filter(([key]) => !kept.has(key))));
  const rest = async () => {
    const all = await loadPackIndexKept(s.remote.storage, s.state.keptIndexes(), { into: index });
    s.state.setKeptIndexes(new Map([...files, ...all.files]));
  };
  return { index, rest };
}

/** How many bytes of kept index files a local read of one sent byte's cost buys. */
const LOCAL_READ_WEIGHT = 16;

/**
 * The index a push checks its objects against. Knowing that the remote holds an object costs
 * reading the index that lists it; when the bytes the push may send are fewer than those of the
 * index files it has no copy of, it reads none of them and sends what its kept copies do not list;
 * when they are fewer than a sixteenth of its kept copies' bytes, it reads none at all and sends
 * everything (an object in two packs is harmless: readers and `gage gc` take either copy).
 */
export async function loadPushPackIndex(s: Session, sendBytes: number): Promise<PackIndex> {
  // The kept copies are read too: locally, so they weigh a fraction of their bytes against the bytes sent.
  if (sendBytes < s.state.keptBytes() / LOCAL_READ_WEIGHT) return new PackIndex();
  const kept = s.state.keptIndexes();
  const isKept = (l: ListedIndex) => l.sum !== undefined && kept.has(l.key);
  // Sizes only when some index is not kept (a stat each on a folder remote): none is read otherwise.
  const names = await listPackIndexes(s.remote.storage);
  if (names.every(isKept)) return loadRemotePackIndex(s, names);
  const listed = await listPackIndexes(s.remote.storage, true);
  let unread = 0;
  for (const l of listed) if (!isKept(l)) unread += l.size ?? 0;
  if (sendBytes >= unread) return loadRemotePackIndex(s, listed);
  return (await loadPackIndexKept(s.remote.storage, kept, { listed, fetch: false })).index;
}

/** Keeps the index files of packs this command wrote, so the next one need not read them back. */
export function keepWrittenIndexes(s: Session, packs: readonly WrittenPack[]): void {
  s.state.addKeptIndexes(new Map(packs.map((p) => [p.indexKey, p.indexBytes])));
}
