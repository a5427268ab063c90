import { appendFileSync, existsSync, mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { packIndexKey, parsePackIndexKey } from "../objects/index.js";
import { commitStateFile, openStateFile, readStateFile, stateFileVersion, writeStateFileTail, type StateFileReader } from "./files.js";
import { statePaths } from "./layout.js";

/**
 * What a runs directory remembers of one remote (docs/formats.md, Local state): the cached view
 * of its heads (bytes and stamp, encoded by sync), the pack index files read from it, and the runs
 * found in sync with it under the view's stamp. Each part has its own dirty state; `commit` writes
 * the dirty ones, the rows last (they name the stamp of the view written before them).
 */
export class RemoteState {
  readonly #runsDir: string;
  readonly #url: string;
  #view: { bytes: Buffer; stamp: string; at?: number } | undefined;
  #viewDirty = false;
  #kept: Map<string, Buffer> | undefined;
  /** Kept index files to write: all of them anew, or these appended. */
  #keptWrite: { replace: true } | { replace: false; add: Map<string, Buffer> } | undefined;
  #inSync: InSyncRows | undefined;
  #inSyncRead = false;
  #inSyncDirty = false;

  constructor(runsDir: string, url: string) {
    this.#runsDir = runsDir;
    this.#url = url;
  }

  /** The cached view's bytes, or `undefined` when there is none. */
  readView(): Buffer | undefined {
    return readStateFile(statePaths.remote(this.#runsDir, this.#url, "view"));
  }

  /** The cached view's file open for reading by parts (the caller closes it), or `undefined` when there is none. */
  openView(): StateFileReader | undefined {
    return openStateFile(statePaths.remote(this.#runsDir, this.#url, "view"));
  }

  /** The cached view file's version now (`StateFileReader.version`): unchanged since it was opened, it may be updated in place. */
  viewVersion(): string | undefined {
    return stateFileVersion(statePaths.remote(this.#runsDir, this.#url, "view"));
  }

  /** Updates the cached view in place (at `commit`): its bytes from `at` on become `tail`. */
  setViewTail(at: number, tail: Buffer, stamp: string): void {
    this.#view = { bytes: tail, stamp, at };
    this.#viewDirty = true;
  }

  /** Replaces the cached view (written at `commit`). */
  setView(bytes: Buffer, stamp: string): void {
    this.#view = { bytes, stamp };
    this.#viewDirty = true;
  }

  /** Kept pack index files by key (`packIndexKey`); only immutable keys are kept. */
  keptIndexes(): ReadonlyMap<string, Buffer> {
    return (this.#kept ??= readKept(statePaths.remote(this.#runsDir, this.#url, "packs")));
  }

  /** The bytes of the kept index files, without reading them. */
  keptBytes(): number {
    if (this.#kept !== undefined) {
      let n = 0;
      for (const bytes of this.#kept.values()) n += bytes.length;
      return n;
    }
    try {
      return statSync(statePaths.remote(this.#runsDir, this.#url, "packs")).size;
    } catch {
      return 0;
    }
  }

  /** The remote's index files listed now (immutable keys): they replace the kept ones. */
  setKeptIndexes(files: ReadonlyMap<string, Buffer>): void {
    const kept = this.keptIndexes();
    const fresh = [...files].filter(([key]) => !kept.has(key));
    const gone = [...kept.keys()].filter((key) => !files.has(key)).length;
    this.#kept = new Map(files);
    // Appended as indexes appear; written anew once the keys gone are half of it.
    if (gone > files.size || (kept.size === 0 && files.size > 0)) this.#keptWrite = { replace: true };
    else if (fresh.length > 0) this.#appendKept(new Map(fresh));
  }

  /** Index files this command wrote, so the next one need not read them back. */
  addKeptIndexes(files: ReadonlyMap<string, Buffer>): void {
    if (files.size === 0) return;
    // Appended unread: a push that read no kept index need not load them to add its own.
    if (this.#kept !== undefined) {
      const kept = new Map(this.#kept);
      for (const [key, bytes] of files) kept.set(key, bytes);
      this.#kept = kept;
    }
    this.#appendKept(files);
  }

  #appendKept(files: ReadonlyMap<string, Buffer>): void {
    if (this.#keptWrite?.replace) return;
    const add = this.#keptWrite?.add ?? new Map<string, Buffer>();
    for (const [key, bytes] of files) add.set(key, bytes);
    this.#keptWrite = { replace: false, add };
  }

  /** The runs found in sync, when saved against the view with this stamp; else none. */
  inSyncRows(viewStamp: string | undefined): Map<string, string> | undefined {
    if (!this.#inSyncRead) {
      this.#inSyncRead = true;
      const bytes = readStateFile(statePaths.remote(this.#runsDir, this.#url, "in-sync"));
      this.#inSync = bytes === undefined ? undefined : decodeInSync(bytes);
    }
    return this.#inSync !== undefined && viewStamp !== undefined && this.#inSync.stamp === viewStamp ? this.#inSync.rows : undefined;
  }

  /** Saves these rows against the view with this stamp (written at `commit`). */
  setInSyncRows(stamp: string, rows: Map<string, string>): void {
    this.#inSync = { stamp, rows };
    this.#inSyncRead = true;
    this.#inSyncDirty = true;
  }

  /** Writes what changed, unless there is no runs directory (`ls --remote` elsewhere creates none). */
  commit(): void {
    if (!existsSync(this.#runsDir)) return;
    const packs = statePaths.remote(this.#runsDir, this.#url, "packs");
    if (this.#keptWrite?.replace) commitStateFile(packs, encodeKept(this.#kept!), { durable: false });
    else if (this.#keptWrite !== undefined) {
      mkdirSync(dirname(packs), { recursive: true });
      appendFileSync(packs, encodeKept(this.#keptWrite.add));
    }
    this.#keptWrite = undefined;
    const view = statePaths.remote(this.#runsDir, this.#url, "view");
    if (this.#viewDirty && this.#view!.at !== undefined) writeStateFileTail(view, this.#view!.at, this.#view!.bytes);
    else if (this.#viewDirty) commitStateFile(view, this.#view!.bytes, { durable: false });
    this.#viewDirty = false;
    if (this.#inSyncDirty) commitStateFile(statePaths.remote(this.#runsDir, this.#url, "in-sync"), encodeInSync(this.#inSync!), { durable: false });
    this.#inSyncDirty = false;
  }
}

// Kept indexes: records [pack id 32][u32 LE length][index file]. A record stands for the key
// `packIndexKey(pack id, index file)`: a key names one content, so a copy is never stale; a
// damaged or torn record is read from the remote again (each index carries its checksum).
function encodeKept(files: ReadonlyMap<string, Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, bytes] of files) {
    const head = Buffer.alloc(36);
    head.write(parsePackIndexKey(key)!.packId, 0, 32, "hex");
    head.writeUInt32LE(bytes.length, 32);
    parts.push(head, bytes);
  }
  return Buffer.concat(parts);
}

function readKept(path: string): Map<string, Buffer> {
  const kept = new Map<string, Buffer>();
  const bytes = readStateFile(path) ?? Buffer.alloc(0);
  for (let p = 0; p + 36 <= bytes.length; ) {
    const end = p + 36 + bytes.readUInt32LE(p + 32);
    if (end > bytes.length) break;
    const file = bytes.subarray(p + 36, end);
    if (file.length >= 32) kept.set(packIndexKey(bytes.toString("hex", p, p + 32), file), file);
    p = end;
  }
  return kept;
}

interface InSyncRows {
  /** The stamp of the cached view the rows were made against. */
  stamp: string;
  /** Run id → its folders' digests (96 latin1 characters). */
  rows: Map<string, string>;
}

// In-sync rows: MAGIC, view stamp (32 bytes), [u32 LE count], then per run: id (36 ASCII), and
// the digests of `ID/`, the meta folder and `ID.user/` (32 bytes each).
const IN_SYNC_MAGIC = Buffer.from("GAGEINS1");
const ID_LENGTH = 36;
const KEY_BYTES = 96;
const ROW = ID_LENGTH + KEY_BYTES;

function encodeInSync({ stamp, rows }: InSyncRows): Buffer {
  // Rows are fixed-width: a run id of another length (a folder not named by Gage) gets none.
  const ids = [...rows.keys()].filter((id) => id.length === ID_LENGTH && rows.get(id)!.length === KEY_BYTES).sort();
  const head = Buffer.alloc(IN_SYNC_MAGIC.length + 32 + 4);
  IN_SYNC_MAGIC.copy(head, 0);
  head.write(stamp, IN_SYNC_MAGIC.length, 32, "hex");
  head.writeUInt32LE(ids.length, IN_SYNC_MAGIC.length + 32);
  const text = ids.map((id) => id + rows.get(id)!).join("");
  return Buffer.concat([head, Buffer.from(text, "latin1")]);
}

/** The rows in `bytes`, or `undefined` when they are damaged or of another format (a cache only). */
function decodeInSync(bytes: Buffer): InSyncRows | undefined {
  const head = IN_SYNC_MAGIC.length + 36;
  if (bytes.length < head || !bytes.subarray(0, IN_SYNC_MAGIC.length).equals(IN_SYNC_MAGIC)) return undefined;
  const count = bytes.readUInt32LE(IN_SYNC_MAGIC.length + 32);
  if (bytes.length !== head + count * ROW) return undefined;
  const rows = new Map<string, string>();
  // One string for every row, cut into ids and keys: one decode, not two per run.
  const text = bytes.toString("latin1", head);
  for (let p = 0; p < text.length; p += ROW) rows.set(text.slice(p, p + ID_LENGTH), text.slice(p + ID_LENGTH, p + ROW));
  return { stamp: bytes.toString("hex", IN_SYNC_MAGIC.length, IN_SYNC_MAGIC.length + 32), rows };
}
