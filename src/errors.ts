/**
 * The base of every error the library throws. The CLI maps `code` to an exit status and prints
 * `message` and `hint` (src/cli/main.ts); tests assert on the class or the code, never on text.
 *
 * Each room declares its own subclasses next to the code that throws them (src/runs/errors.ts,
 * src/objects/errors.ts, src/remotes/errors.ts, ...), and adds its codes to `ErrorCode` here so
 * the exit-status table stays complete in one place.
 */
export type ErrorCode =
  // usage and input
  | "USAGE"
  | "CONFIG"
  | "CANCELLED"
  // runs directory
  | "RUNS_DIR"
  | "RUN_NOT_FOUND"
  | "RUN_SPEC"
  | "AMBIGUOUS_RUN"
  | "NOTHING_SELECTED"
  | "RUN_META"
  | "RUN_ID"
  // runner
  | "GAGEFILE"
  | "OPERATION"
  | "FLAG"
  | "RUN_FAILED"
  // objects
  | "OBJECT_NOT_FOUND"
  | "CORRUPT_OBJECT"
  | "UNSAFE_PATH"
  | "FORMAT"
  // remotes
  | "NOT_FOUND"
  | "PERMISSION"
  | "UNREACHABLE"
  | "AUTH"
  | "HOST_KEY"
  | "REMOTE_CONFLICT"
  | "REMOTE_URL"
  | "STORE_NOT_FOUND"
  | "NOT_A_FILE"
  // sync
  | "CONFLICT"
  | "STORE_INCOMPLETE"
  // serve
  | "SERVE_AUTH_REQUIRED"
  | "SERVE_LISTEN"
  // git
  | "TOO_LARGE"
  | "UNSUPPORTED_NAME";

export interface GageErrorOptions {
  hint?: string;
  cause?: unknown;
  retryable?: boolean;
}

export class GageError extends Error {
  readonly code: ErrorCode;
  /** The next thing the user can do: a command, a flag, a file to fix. */
  readonly hint: string | undefined;
  /** True when trying the same thing again may succeed (network, throttling). */
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: GageErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
    this.retryable = options.retryable ?? false;
  }
}

/** Bad arguments to a command or a library call. */
export class UsageError extends GageError {
  constructor(message: string, options: GageErrorOptions = {}) {
    super("USAGE", message, options);
  }
}

/** A config file or config value that cannot be used. */
export class ConfigError extends GageError {
  readonly file: string | undefined;
  constructor(message: string, options: GageErrorOptions & { file?: string } = {}) {
    super("CONFIG", message, options);
    this.file = options.file;
  }
}

/** The user declined a confirmation. */
export class CancelledError extends GageError {
  constructor(message = "Cancelled", options: GageErrorOptions = {}) {
    super("CANCELLED", message, options);
  }
}

export function isGageError(err: unknown): err is GageError {
  return err instanceof GageError;
}
