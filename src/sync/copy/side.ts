import type { Readable } from "node:stream";
import type { Run } from "../../runs/run.js";

/** One file of a run on one side. */
export interface SideFile {
  /** Relative to the runs directory, `/`-separated: `ID/x`, `ID.meta/opref`, `ID.user/N.json`. */
  key: string;
  size: number;
  /** Permission bits, on a side that keeps them (a directory on disk). */
  mode?: number;
  mtimeMs?: number;
}

/** A file's bytes: whole (small files) or streamed. */
export type FileData = Buffer | Readable;

export interface WriteAttrs {
  /** Permission bits to give the file; a side that does not keep modes ignores them. */
  mode: number;
  mtimeMs?: number;
  /** The SHA-256 the bytes must have (from the sender's manifest): checked before the rename. */
  sha256?: string;
}

/**
 * One end of a copy: a runs directory in the plain Gage layout, on disk or in a `Storage`.
 * Every write is atomic (temporary name, then rename or an atomic put).
 */
export interface RunsSide {
  /** Where it is, for messages (no secrets). */
  readonly where: string;
  /** Live and deleted runs (`deleted: true` for `ID.meta.deleted`), newest first. */
  listRuns(onWarning?: (msg: string) => void): Promise<Run[]>;
  /**
   * The files under the given top-level directories (`ID`, `ID.meta`, ...), sorted by key.
   * @throws UnsafePathError when a side from outside holds a symlink or an unexpected key.
   */
  listFiles(dirs: readonly string[]): Promise<SideFile[]>;
  read(key: string): Promise<Readable>;
  /** A whole (small) file; throws when it is missing. */
  load(key: string): Promise<Buffer>;
  /** Bytes `[start, end)` of a file. */
  readRange(key: string, start: number, end: number): Promise<Buffer>;
  readBytes(key: string): Promise<Buffer | undefined>;
  write(key: string, data: FileData, attrs: WriteAttrs): Promise<void>;
  /**
   * Writes a new meta directory so that the run appears only once all of it is there:
   * `write` files below `dir`, then `commit`.
   */
  beginMeta(dir: string): Promise<MetaWriter>;
  /**
   * Removes temporary files that `listFiles` saw under `tops` (left by a killed copy), once the
   * run they belong to is complete again. Sides whose writes leave none need not implement it.
   */
  removeStrays?(tops: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

export interface MetaWriter {
  /** `rel` is relative to the meta directory. */
  write(rel: string, data: FileData, attrs: WriteAttrs): Promise<void>;
  commit(): Promise<void>;
}
