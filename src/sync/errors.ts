import { GageError, type GageErrorOptions } from "../errors.js";

/**
 * Two sides changed a run's files or metadata differently (a true divergence: neither state
 * descends from the other). User attributes never conflict: they merge by union.
 */
export class ConflictError extends GageError {
  readonly conflicts: ReadonlyArray<RunConflict>;
  constructor(conflicts: ReadonlyArray<RunConflict>, options: GageErrorOptions = {}) {
    const lines = conflicts.map((c) => `  ${c.runId}: ${c.paths.slice(0, 10).join(", ")}${c.paths.length > 10 ? ", ..." : ""}`);
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
