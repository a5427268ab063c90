// The content-addressed object store: ids, chunking, trees, packs and their indexes, verified
// reads, a folder snapshotter with an injected file-id cache, and materializing a tree back. Knows
// nothing of remotes, runs or the CLI: it reads and writes through `ObjectStorage`, which every
// remotes `Storage` satisfies. Run folders are src/worktree's.
export { isObjectId, parseObjectId, hashBytes, hashFile, writeIdBytes, type ObjectId } from "./ids.js";
export { copyBytes, copyOf } from "./copy-bytes.js";
export { ObjectNotFoundError, CorruptObjectError, UnsafePathError, UnsupportedNameError, FormatError, TreeLimitError } from "./errors.js";
export { decodeName, encodeName, fsPath, hasRawBytes, osPath, printableName } from "./names.js";
export { DEFAULT_TREE_LIMITS, TreeBudget, type TreeLimits } from "./tree-limits.js";
export { listKeys, PACK_PREFIX, packKey, packIndexKey, legacyPackIndexKey, parsePackIndexKey, type ObjectStorage } from "./storage.js";
export { DEFAULT_CHUNKING, chunkBuffer, type ChunkingParams } from "./chunker.js";
export {
  encodeTree,
  decodeTree,
  scanTree,
  type ScannedEntry,
  encodeChunkList,
  decodeChunkList,
  encodeSnapshot,
  decodeSnapshot,
  treeId,
  snapshotId,
  compareNames,
  normalizeMode,
  badEntryName,
  type EntryKind,
  type TreeEntry,
  type Tree,
  type ChunkRef,
  type ChunkList,
  type SnapshotUserEntry,
  type SnapshotSummary,
  type SummaryValue,
  type Snapshot,
} from "./codec.js";
export { comparePackOrder, PackIndex, PackWriter, type ObjectSink, type PackWriterOptions, type WrittenPack, type PackLocation } from "./pack.js";
export { decodeAs, ObjectReader, listPackIndexes, loadPackIndex, loadPackIndexKept, readPackIndexBytes, type KeptLoadOptions, type ListedIndex, type ObjectReaderOptions, type ReadManyOptions } from "./reader.js";
export type { FileStamp, CachedIds, FileIdCache } from "./file-id-cache.js";
export { firstOfKey } from "./search.js";
export {
  snapshotDir,
  Snapshotter,
  idOnlySink,
  emptyStats,
  addStats,
  addTreeSum,
  addFileEntries,
  encodeFileEntries,
  decodeFileEntries,
  wholeTreeKey,
  type FileProgress,
  type SnapshotStats,
  type SnapshotOptions,
} from "./snapshot.js";
export { digestTrees, digestTreesAsync, gitCheckoutAsync, gitInflateSync, nativeListing, syncFs, TreeSums, type TreeSum, type TreeSumLookup } from "./dir-listing.js";
export { collectTimes, decodeTimes, encodeTimes, toMicros, type FileTimes } from "./times.js";
export { materializeTree, materializeTrees, writeStaged, type MaterializeJob, type MaterializeOptions, type MaterializeStats, type WrittenFiles } from "./materialize.js";
export { appendJobPath, stampAt, type FileRestorer, type RestoredFiles } from "./restore-native.js";
export { MemoryObjectStorage } from "./memory-storage.js";
