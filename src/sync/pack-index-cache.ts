import type { PackIndex, WrittenPack } from "../objects/index.js";
import { loadPackIndexKept } from "../objects/index.js";
import type { Session } from "./session.js";

/**
 * The remote's pack indexes, from the copies the runs directory keeps (src/state) for keys the
 * remote lists now, and from the remote for the others: a push or pull reads only the index files
 * written since, not one per pack (a GET each on S3). A key names one content, so a kept copy is
 * never stale (docs/formats.md, Pack indexes).
 */
export async function loadRemotePackIndex(s: Session): Promise<PackIndex> {
  const { index, files } = await loadPackIndexKept(s.remote.storage, s.state.keptIndexes());
  s.state.setKeptIndexes(files);
  return index;
}

/** Keeps the index files of packs this command wrote, so the next one need not read them back. */
export function keepWrittenIndexes(s: Session, packs: readonly WrittenPack[]): void {
  s.state.addKeptIndexes(new Map(packs.map((p) => [p.indexKey, p.indexBytes])));
}
