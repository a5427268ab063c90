import type { ErrorCode } from "../errors.js";

/**
 * Exit statuses, documented in README.md ("Exit codes"). One table so that scripts can rely
 * on them.
 */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  notFound: 3,
  conflict: 4,
  remote: 5,
  integrity: 6,
  cancelled: 130,
} as const;

export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case "USAGE":
    case "RUN_SPEC":
    case "FLAG":
    case "REMOTE_URL":
    case "CONFIG":
    case "GAGEFILE":
    case "OPERATION":
    case "SERVE_AUTH_REQUIRED":
    case "TOO_LARGE":
    case "UNSUPPORTED_NAME":
    case "RUN_ID":
      return EXIT.usage;
    case "RUN_NOT_FOUND":
    case "NOTHING_SELECTED":
    case "AMBIGUOUS_RUN":
    case "NOT_FOUND":
    case "OBJECT_NOT_FOUND":
    case "STORE_INCOMPLETE":
    case "STORE_NOT_FOUND":
      return EXIT.notFound;
    case "CONFLICT":
    case "REMOTE_CONFLICT":
      return EXIT.conflict;
    case "UNREACHABLE":
    case "AUTH":
    case "HOST_KEY":
    case "PERMISSION":
      return EXIT.remote;
    case "CORRUPT_OBJECT":
    case "UNSAFE_PATH":
    case "FORMAT":
    case "NOT_A_FILE":
      return EXIT.integrity;
    case "CANCELLED":
      return EXIT.cancelled;
    case "RUNS_DIR":
    case "RUN_META":
    case "RUN_FAILED":
    case "SERVE_LISTEN":
      return EXIT.error;
  }
}
