import { GageError, type GageErrorOptions } from "../errors.js";
import { printableName } from "./names.js";

/** An object id that no pack index on the storage lists. */
export class ObjectNotFoundError extends GageError {
  readonly id: string;
  constructor(id: string, options: GageErrorOptions = {}) {
    super("OBJECT_NOT_FOUND", `Object ${id} is not in the store`, {
      hint: "The remote may be incomplete: from a machine that has the run, push it again by name (gage push REMOTE RUN)",
      ...options,
    });
    this.id = id;
  }
}

/** Stored bytes that do not hash to the id they are stored under, or cannot be decoded. */
export class CorruptObjectError extends GageError {
  /** The id the object was asked for. */
  readonly id: string;
  /** The SHA-256 of the bytes actually read, when they could be read. */
  readonly actual: string | undefined;
  /** Where the bytes came from (storage key), for the message. */
  readonly where: string | undefined;
  constructor(id: string, details: { actual?: string; where?: string; reason?: string } = {}, options: GageErrorOptions = {}) {
    const from = details.where === undefined ? "" : ` in ${details.where}`;
    const why = details.reason ?? (details.actual === undefined ? "unreadable" : `its bytes hash to ${details.actual}`);
    super("CORRUPT_OBJECT", `Object ${id}${from} is corrupt: ${why}`, {
      hint: "The remote holds a damaged copy of it. Get the run from another copy, or push it from a good copy to a new remote",
      ...options,
    });
    this.id = id;
    this.actual = details.actual;
    this.where = details.where;
  }
}

/** A tree entry or path that would write outside its directory, or through a symlink. */
export class UnsafePathError extends GageError {
  readonly path: string;
  readonly reason: string;
  constructor(path: string, reason: string, options: GageErrorOptions = {}) {
    super("UNSAFE_PATH", `Refusing unsafe path '${path}': ${reason}`, {
      hint: "The remote holds a hostile or damaged tree; nothing was written for this entry",
      ...options,
    });
    this.path = path;
    this.reason = reason;
  }
}

/** Bytes that are not a well-formed tree, snapshot, chunk list, pack or pack index. */
export class FormatError extends GageError {
  readonly what: string;
  constructor(what: string, reason: string, options: GageErrorOptions = {}) {
    super("FORMAT", `Malformed ${what}: ${reason}`, options);
    this.what = what;
  }
}

/**
 * Local files whose names are not UTF-8 where a remote cannot hold them (a store's trees, the keys
 * of a storage). Raised before anything is written: a file is never dropped silently.
 */
export class UnsupportedNameError extends GageError {
  /** Paths as `decodeName` holds them (raw bytes escaped); print them with `printableName`. */
  readonly paths: readonly string[];
  constructor(paths: readonly string[], where: string, options: GageErrorOptions = {}) {
    const shown = paths.slice(0, 5).map((p) => `'${printableName(p)}'`).join(", ") + (paths.length > 5 ? ", ..." : "");
    super(
      "UNSUPPORTED_NAME",
      `${paths.length === 1 ? "A file name is" : `${paths.length} file names are`} not valid UTF-8 and cannot be kept in ${where}: ${shown}; nothing was written`,
      {
        hint: "Rename them to UTF-8 names (e.g. 'convmv -r -f latin1 -t utf-8 --notest DIR'), then run the command again. 'gage copy' between local folders keeps such names.",
        ...options,
      },
    );
    this.paths = paths;
  }
}

/**
 * A tree that expands past what any run holds: too many entries (subtrees shared many times over),
 * too deep, or paths too long for the filesystem. Refused before anything is written.
 */
export class TreeLimitError extends GageError {
  readonly treeId: string;
  constructor(treeId: string, reason: string, options: GageErrorOptions = {}) {
    super("FORMAT", `Tree ${treeId} is too large to write: ${reason}`, {
      hint: "The remote holds a hostile or damaged tree; nothing was written. Push the run again from a good copy.",
      ...options,
    });
    this.treeId = treeId;
  }
}
