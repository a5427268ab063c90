export type { Storage, StorageStat, StorageEntry, ByteRange } from "./storage.js";
export {
  RemoteError,
  NotFoundError,
  PermissionError,
  UnreachableError,
  AuthError,
  HostKeyError,
  RemoteConflictError,
  RemoteUrlError,
} from "./errors.js";
export type { RemoteErrorOptions, HostKeyProblem } from "./errors.js";
export { openStorage, openLocation } from "./open.js";
export type { OpenStorageOptions } from "./open.js";
export { parseStorageUrl, formatLocation, redactUrl } from "./url.js";
export type { StorageLocation, StorageType } from "./url.js";
export { withRetry } from "./retry.js";
export type { RetryOptions } from "./retry.js";
export { withConcurrency } from "./concurrency.js";
export { backends, storageTypes, backendOptions, checkSettings, redactSettings } from "./registry.js";
export type { StorageBackend, BackendOption, BackendSettings, OpenContext } from "./backend.js";
export { LocalStorage } from "./local/index.js";
export { MemoryStorage } from "./memory/index.js";
export { listRemotes, findRemote, resolveRemote, openRemoteSpec, redactRemote, remoteConfigFiles } from "./config.js";
export type { RemoteContext, RemoteSpec } from "./config.js";
export { checkRemote, PROBE_PREFIX } from "./check.js";
export type { CheckOptions, CheckResult, CheckStep, CheckStepName } from "./check.js";
