import { GageError, type GageErrorOptions } from "../errors.js";

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
