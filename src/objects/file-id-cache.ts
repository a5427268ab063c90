import type { ObjectId } from "./ids.js";

/** The lstat fields that say a file is unchanged. */
export interface FileStamp {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

export interface CachedIds {
  id: ObjectId;
  chunks?: ObjectId;
}

/** What a snapshot asks of a stat cache (`StatCache`; a worker thread records into a stand-in). */
export interface FileIdCache {
  lookup(path: string, stamp: FileStamp): CachedIds | undefined;
  record(path: string, stamp: FileStamp, ids: CachedIds): void;
  lookupDir(path: string, signature: string): ObjectId | undefined;
  recordDir(path: string, signature: string, treeId: ObjectId, newestChangeMs: number): void;
  /** What was computed for a folder whose whole tree has this signature (a list of entries, encoded by the caller). */
  lookupList?(path: string, signature: string): Buffer | undefined;
  recordList?(path: string, signature: string, payload: Buffer, newestChangeMs: number): void;
}
