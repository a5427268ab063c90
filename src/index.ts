export { GageError, UsageError, ConfigError, CancelledError, isGageError } from "./errors.js";
export type { ErrorCode, GageErrorOptions } from "./errors.js";
export type { Storage, StorageStat, StorageEntry, ByteRange } from "./remotes/storage.js";
