import { GageError, type GageErrorOptions } from "../errors.js";

/** No gagefile in the project, or one that cannot be read. */
export class GagefileError extends GageError {
  readonly path: string;
  constructor(path: string, message: string, options: GageErrorOptions = {}) {
    super("GAGEFILE", message, options);
    this.path = path;
  }
}

/** The requested operation (or a default one) is not defined in the gagefile. */
export class OperationError extends GageError {
  readonly opspec: string | undefined;
  /** Operations the gagefile defines, sorted. */
  readonly operations: readonly string[];
  constructor(opspec: string | undefined, operations: readonly string[], options: GageErrorOptions = {}) {
    const listed = operations.length ? operations.map((op) => `  ${op}`).join("\n") : "  (none)";
    super(
      "OPERATION",
      `${opspec ? `Cannot find operation '${opspec}'` : "Cannot find a default operation"}\n\nOperations defined for this project:\n${listed}`,
      { hint: "Try 'gage run OP' with one of them.", ...options },
    );
    this.opspec = opspec;
    this.operations = operations;
  }
}

/** A `NAME=VALUE` argument that cannot be parsed or names no config key of the operation. */
export class FlagError extends GageError {
  readonly flag: string;
  /** The operation's flags (config keys), sorted. */
  readonly validFlags: readonly string[];
  constructor(flag: string, message: string, validFlags: readonly string[], options: GageErrorOptions = {}) {
    super("FLAG", message, options);
    this.flag = flag;
    this.validFlags = validFlags;
  }
}

/** A run could not be staged or started (no exec command, a run that is not staged, ...). */
export class RunFailedError extends GageError {
  constructor(message: string, options: GageErrorOptions = {}) {
    super("RUN_FAILED", message, options);
  }
}
