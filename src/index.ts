export { GageError, UsageError, ConfigError, CancelledError, isGageError } from "./errors.js";
export type { ErrorCode, GageErrorOptions } from "./errors.js";
export type { Storage, StorageStat, StorageEntry, ByteRange } from "./remotes/storage.js";
export {
  RemoteError,
  NotFoundError,
  PermissionError,
  UnreachableError,
  AuthError,
  HostKeyError,
  RemoteConflictError,
  RemoteUrlError,
  StoreNotFoundError,
} from "./remotes/errors.js";
export type { RemoteErrorOptions, HostKeyProblem } from "./remotes/errors.js";
export { openStorage, openLocation } from "./remotes/open.js";
export type { OpenStorageOptions } from "./remotes/open.js";
export { parseStorageUrl, formatLocation, redactUrl } from "./remotes/url.js";
export type { StorageLocation, StorageType } from "./remotes/url.js";
export { withRetry } from "./remotes/retry.js";
export type { RetryOptions } from "./remotes/retry.js";
export { withConcurrency } from "./remotes/concurrency.js";
export { backends, storageTypes, backendOptions, checkSettings, redactSettings } from "./remotes/registry.js";
export type { StorageBackend, BackendOption, BackendSettings, OpenContext } from "./remotes/backend.js";
export { LocalStorage } from "./remotes/local/index.js";
export { MemoryStorage } from "./remotes/memory/index.js";
export { listRemotes, findRemote, resolveRemote, openRemoteSpec, redactRemote, remoteConfigFiles } from "./remotes/config.js";
export type { RemoteContext, RemoteSpec } from "./remotes/config.js";
export { checkRemote, PROBE_PREFIX } from "./remotes/check.js";
export type { CheckOptions, CheckResult, CheckStep, CheckStepName } from "./remotes/check.js";
export { runPaths } from "./runs/layout.js";
export type { RunPaths } from "./runs/layout.js";
export { resolveRunsDir } from "./runs/runs-dir.js";
export { runName } from "./runs/name.js";
export {
  newLogId,
  logIdTimestamp,
  appendUserLog,
  readUserLog,
  applyUserLog,
  parseUserLogEntry,
  UNKNOWN_AUTHOR,
} from "./runs/user-log.js";
export type { UserLogEntry } from "./runs/user-log.js";
export { writeProjectRef, readProjectRef, removeProjectRef } from "./runs/project-ref.js";
export {
  readRun,
  listRuns,
  sortRuns,
  runMetaDir,
  runTimestamp,
  deriveStatus,
  makeRun,
  decodeOpref,
  encodeOpref,
  META_SCHEMA,
} from "./runs/run.js";
export type { Run, RunStatus, RunTimestamps, ReadRunOptions } from "./runs/run.js";
export { parseRunSpec, matchRunSpec, selectRuns, selectOneRun, parseWhere } from "./runs/select.js";
export type { ParsedSpec } from "./runs/select.js";
export {
  RunsDirError,
  RunNotFoundError,
  RunSpecError,
  AmbiguousRunError,
  NothingSelectedError,
  RunMetaError,
} from "./runs/errors.js";
export {
  setLabel,
  addComment,
  runComments,
  associateProject,
  deleteRuns,
  restoreRuns,
  purgeRuns,
} from "./runs/ops.js";
export type { ChangeContext } from "./runs/ops.js";
// The object store's errors, which a library user may catch; its internals (packs, the stat
// cache, snapshotting) are not part of the API.
export { ObjectNotFoundError, CorruptObjectError, UnsafePathError, UnsupportedNameError, FormatError } from "./objects/index.js";
export type { ObjectId } from "./objects/index.js";
export { runOperation, startRun, planRun, platformName } from "./runner/run.js";
export type { RunOptions, StartRunOptions, PlanOptions, RunPlan, RunResult, RunOutcome } from "./runner/run.js";
export { GagefileError, OperationError, FlagError, RunFailedError } from "./runner/errors.js";
export { PyFloat, parseFlagAssign, parseFlagValue } from "./runner/values.js";
export type { ConfigValue, RunConfig } from "./runner/values.js";
export { copyRuns, planCopy, executeCopy, copyResult, describeRun } from "./sync/copy/index.js";
export type {
  CopyOptions,
  CopyPlan,
  CopyResult,
  CopiedRun,
  CopyEvent,
  CopyDirection,
  CopySelection,
  PlannedFile,
  PlannedRun,
  RunPart,
} from "./sync/copy/index.js";
export {
  push,
  planPush,
  pull,
  planPull,
  clone,
  planClone,
  status,
  startRunSums,
  listRemoteRuns,
  openRemote,
  closeRemote,
  setDefaultRemote,
  gitRemoteSpec,
  readDefaultRemote,
  ConflictError,
  StoreFormatError,
  StoreIncompleteError,
  RUN_PARTS,
  CATALOG_EVERY,
  gc,
  planGc,
  DEFAULT_GRACE_MS,
  verify,
} from "./sync/index.js";
export type {
  PushOptions,
  PushResult,
  PullResult,
  CloneOptions,
  StatusOptions,
  StatusResult,
  RunStatusRow,
  StartedSums,
  SyncState,
  RemoteRun,
  OpenRemote,
  RunConflict,
  HeadEntry,
  RunSummary,
  SyncOptions,
  SyncProgressEvent,
  TransferPlan,
  PlannedRun as SyncPlannedRun,
  GcOptions,
  GcPlan,
  GcProgressEvent,
  GcResult,
  VerifyOptions,
  VerifyResult,
  VerifyProblem,
  VerifyProblemKind,
  VerifySeverity,
  VerifyProgressEvent,
  VerifyCounts,
} from "./sync/index.js";
export { startServer, openSource, RunsDirSource, StoreSource, ServeAuthRequiredError, ServeListenError, DEFAULT_PORT as SERVE_DEFAULT_PORT } from "./serve/index.js";
export type { ServeOptions, RunningServer, AuthOptions as ServeAuthOptions, RunSource, RunPart as ServeRunPart, SourceFile, FileRead } from "./serve/index.js";
export { LargeFilesError, DEFAULT_MAX_PACK_BYTES } from "./sync/git/index.js";
export type { GitRemoteRun } from "./sync/git/index.js";
export { parseGitUrl, formatGitLocation } from "./remotes/url.js";
export type { GitLocation } from "./remotes/url.js";
export type { GitRemoteSpec, StoreRemoteSpec } from "./remotes/config.js";
