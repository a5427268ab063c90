import { GageError, type GageErrorOptions } from "../errors.js";
import { printableName } from "../objects/index.js";

/**
 * Two sides changed a run's files or metadata differently (a true divergence: neither state
 * descends from the other). User attributes never conflict: they merge by union.
 */
export class ConflictError extends GageError {
  readonly conflicts: ReadonlyArray<RunConflict>;
  constructor(conflicts: ReadonlyArray<RunConflict>, options: GageErrorOptions = {}) {
    const lines = conflicts.map((c) => `  ${c.runId}: ${c.paths.slice(0, 10).map(printableName).join(", ")}${c.paths.length > 10 ? ", ..." : ""}`);
    super(
      "CONFLICT",
      `${conflicts.length === 1 ? "A run has" : `${conflicts.length} runs have`} diverged (changed differently on both sides):\n${lines.join("\n")}`,
      { hint: "Use --force to keep this side's files (user attributes still merge).", ...options },
    );
    this.conflicts = conflicts;
  }
}

export interface RunConflict {
  runId: string;
  /** Paths that differ, relative to the runs directory (`ID/...`, `ID.meta/...`). */
  paths: string[];
}

/** What a remote store holds cannot be read as a store (a bad head, catalog or state file). */
export class StoreFormatError extends GageError {
  readonly key: string;
  constructor(key: string, message: string, options: GageErrorOptions = {}) {
    super("FORMAT", message, options);
    this.key = key;
  }
}

/**
 * Objects that a remote's runs reach are missing from its store (`gage gc` found them while
 * marking what to keep). gc changes nothing then: what it cannot read, it cannot see past.
 */
export class StoreIncompleteError extends GageError {
  /** Missing object ids (the first few). */
  readonly objects: readonly string[];
  /** Runs that reach them. */
  readonly runIds: readonly string[];
  constructor(objects: readonly string[], runIds: readonly string[], total: number, options: GageErrorOptions = {}) {
    const runs = runIds.slice(0, 5).join(", ") + (runIds.length > 5 ? ", ..." : "");
    super(
      "STORE_INCOMPLETE",
      `${total === 1 ? "An object" : `${total} objects`} that runs on the remote reach ${total === 1 ? "is" : "are"} missing (runs ${runs}); nothing was removed`,
      {
        hint: "gc removes nothing from a store whose runs reach missing objects. From a machine that has those runs, push them again by name (gage push REMOTE RUN...), then run gc again.",
        ...options,
      },
    );
    this.objects = objects;
    this.runIds = runIds;
  }
}
