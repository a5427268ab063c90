import { GageError, type ErrorCode, type GageErrorOptions } from "../errors.js";

export interface RemoteErrorOptions extends GageErrorOptions {
  /** The key the operation was about, when there was one. */
  key?: string;
}

/**
 * The base of every error a `Storage` throws. `url` is the storage's URL with secrets redacted,
 * so it is safe to print.
 */
export class RemoteError extends GageError {
  readonly url: string;
  readonly key: string | undefined;
  constructor(code: ErrorCode, url: string, message: string, options: RemoteErrorOptions = {}) {
    super(code, message, options);
    this.url = url;
    this.key = options.key;
  }
}

/** The key does not exist. */
export class NotFoundError extends RemoteError {
  constructor(url: string, key: string, options: GageErrorOptions = {}) {
    super("NOT_FOUND", url, `No object '${key}' in ${url}`, { ...options, key });
  }
}

/**
 * The remote's root is not there: a local or SSH folder that does not exist, an S3 bucket that
 * does not exist. Not an empty store: commands that read say so instead of finding no runs.
 */
export class StoreNotFoundError extends RemoteError {
  constructor(url: string, message: string, options: RemoteErrorOptions = {}) {
    super("STORE_NOT_FOUND", url, message, options);
  }
}

/** The remote refused the operation (file mode, bucket policy, SFTP permission). */
export class PermissionError extends RemoteError {
  constructor(url: string, message: string, options: RemoteErrorOptions = {}) {
    super("PERMISSION", url, message, {
      hint: `Check that your account may read and write ${url}.`,
      ...options,
    });
  }
}

/**
 * The remote could not be reached or broke off mid-transfer (connection refused or reset,
 * timeout, DNS failure, throttling, server errors). Retryable unless said otherwise.
 */
export class UnreachableError extends RemoteError {
  constructor(url: string, message: string, options: RemoteErrorOptions = {}) {
    super("UNREACHABLE", url, message, {
      retryable: true,
      hint: `Check that the server is running and reachable, then try again ('gage remote check ${url}').`,
      ...options,
    });
  }
}

/** The remote rejected our credentials. */
export class AuthError extends RemoteError {
  constructor(url: string, message: string, options: RemoteErrorOptions = {}) {
    super("AUTH", url, message, options);
  }
}

export type HostKeyProblem = "unknown" | "changed" | "revoked";

/** The SSH server's host key is not in known_hosts, differs from it, or is revoked. */
export class HostKeyError extends RemoteError {
  readonly host: string;
  readonly problem: HostKeyProblem;
  /** `SHA256:...`, as `ssh-keygen -l` prints it. */
  readonly fingerprint: string;
  constructor(
    url: string,
    host: string,
    problem: HostKeyProblem,
    fingerprint: string,
    options: RemoteErrorOptions = {},
  ) {
    const what =
      problem === "unknown"
        ? `The host key of ${host} is not known`
        : problem === "changed"
          ? `The host key of ${host} has CHANGED (it may be an attack, or the server was reinstalled)`
          : `The host key of ${host} is revoked`;
    super("HOST_KEY", url, `${what}: ${fingerprint}`, options);
    this.host = host;
    this.problem = problem;
    this.fingerprint = fingerprint;
  }
}

/** The key collides with something already there (a key used as a folder, or the reverse). */
export class RemoteConflictError extends RemoteError {
  constructor(url: string, message: string, options: RemoteErrorOptions = {}) {
    super("REMOTE_CONFLICT", url, message, options);
  }
}

/** A remote URL or path that no backend accepts, or a backend option that is invalid. */
export class RemoteUrlError extends RemoteError {
  constructor(url: string, message: string, options: RemoteErrorOptions = {}) {
    super("REMOTE_URL", url, message, {
      hint: "Use a path, file://PATH, s3://BUCKET/PREFIX, ssh://[USER@]HOST[:PORT]/PATH or USER@HOST:PATH; for a Git repository, git+https://HOST/PATH or a bare repository's path.",
      ...options,
    });
  }
}

/** A file name the remote's protocol cannot carry (SFTP through ssh2 decodes names as UTF-8, so other bytes are lost). */
export class NameNotUtf8Error extends RemoteError {
  constructor(url: string, path: string, options: RemoteErrorOptions = {}) {
    super("UNSUPPORTED_NAME", url, `'${path}' in ${url} has a name that is not valid UTF-8, which SFTP cannot name; nothing was written`, {
      hint: "Rename it on the server to a UTF-8 name (e.g. 'convmv -r -f latin1 -t utf-8 --notest DIR'), or fetch the folder with rsync and 'gage copy --from' the local copy (it keeps such names).",
      ...options,
    });
  }
}

/** Something other than a regular file where an object belongs (a FIFO, a device): never read. */
export class NotRegularFileError extends RemoteError {
  constructor(url: string, key: string, options: RemoteErrorOptions = {}) {
    super("NOT_A_FILE", url, `'${key}' in ${url} is not a regular file; refusing to read it`, {
      hint: "The remote folder holds something else in place of an object: remove it, then push the affected runs again.",
      ...options,
      key,
    });
  }
}
