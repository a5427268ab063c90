import { homedir } from "node:os";
import type { StorageBackend } from "./backend.js";
import { withConcurrency } from "./concurrency.js";
import { backends, checkSettings } from "./registry.js";
import { withRetry, type RetryOptions } from "./retry.js";
import type { Storage } from "./storage.js";
import { parseStorageUrl, type StorageLocation } from "./url.js";

export interface OpenStorageOptions {
  /** Resolves relative local paths. Without it a relative path throws `RemoteUrlError`. */
  cwd?: string;
  /** Default `process.env`: AWS_*, SSH_AUTH_SOCK, USER are read from it. */
  env?: NodeJS.ProcessEnv;
  /** Default `env.HOME`, then the OS home: `~/.ssh` and `~/.aws` are under it. */
  home?: string;
  /** Backend options, e.g. a `[repos.NAME]` table's (`endpoint`, `region`, `identity_file`...). */
  settings?: Record<string, unknown>;
  /** Where `settings` come from (`[repos.NAME] of FILE`): hints about a bad setting name it. */
  origin?: string;
  /** Calls in flight at once; default the `concurrency` setting, else the backend's default. */
  concurrency?: number;
  /** Retry budget; `false` for none. */
  retry?: RetryOptions | false;
}

/**
 * Opens the storage at a URL or path (see `parseStorageUrl` for the forms), wrapped in
 * `withConcurrency` and `withRetry`. Only the backend asked for is loaded (so a local remote never
 * loads the AWS SDK). Opening a network backend connects (SSH) or only configures a client (S3:
 * the first call connects).
 * @throws RemoteUrlError for a URL no backend accepts; ConfigError for bad settings; for SSH, the
 *   connection errors (`UnreachableError`, `AuthError`, `HostKeyError`).
 */
export async function openStorage(urlOrPath: string, options: OpenStorageOptions = {}): Promise<Storage> {
  const location = parseStorageUrl(urlOrPath, options.cwd);
  return openLocation(location, options);
}

/** `openStorage` for an already parsed location. */
export async function openLocation(location: StorageLocation, options: OpenStorageOptions = {}): Promise<Storage> {
  const env = options.env ?? process.env;
  const home = options.home ?? env.HOME ?? homedir();
  const backend = backends[location.type];
  const settings = checkSettings(location.type, options.settings ?? {});
  const storage = await (backend.open as StorageBackend["open"])(location, settings, { env, home, ...(options.origin === undefined ? {} : { origin: options.origin }) });
  const concurrency = options.concurrency ?? (settings.concurrency as number | undefined) ?? backend.defaultConcurrency;
  const limited = withConcurrency(storage, concurrency);
  return options.retry === false ? limited : withRetry(limited, options.retry);
}
