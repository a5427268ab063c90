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
  openStorage,
  openLocation,
  parseStorageUrl,
  formatLocation,
  redactUrl,
  withRetry,
  withConcurrency,
  backends,
  storageTypes,
  backendOptions,
  checkSettings,
  redactSettings,
  LocalStorage,
  MemoryStorage,
  listRemotes,
  findRemote,
  resolveRemote,
  openRemoteSpec,
  redactRemote,
  remoteConfigFiles,
  checkRemote,
  PROBE_PREFIX,
} from "./remotes/index.js";
export type {
  RemoteErrorOptions,
  HostKeyProblem,
  OpenStorageOptions,
  StorageLocation,
  StorageType,
  RetryOptions,
  StorageBackend,
  BackendOption,
  BackendSettings,
  OpenContext,
  RemoteContext,
  RemoteSpec,
  CheckOptions,
  CheckResult,
  CheckStep,
  CheckStepName,
} from "./remotes/index.js";
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
export { pythonJsonDumps } from "./runs/py-json.js";
export { writeFileAtomic } from "./runs/atomic-write.js";
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
export {
  isObjectId,
  parseObjectId,
  hashBytes,
  hashFile,
  ObjectNotFoundError,
  CorruptObjectError,
  UnsafePathError,
  FormatError,
  PACK_PREFIX,
  packKey,
  packIndexKey,
  packIdOfIndexKey,
  DEFAULT_CHUNKING,
  encodeTree,
  decodeTree,
  encodeChunkList,
  decodeChunkList,
  encodeSnapshot,
  decodeSnapshot,
  treeId,
  snapshotId,
  PackIndex,
  PackWriter,
  ObjectReader,
  loadPackIndex,
  StatCache,
  snapshotDir,
  snapshotRun,
  materializeTree,
  MemoryObjectStorage,
} from "./objects/index.js";
export type {
  ObjectId,
  ObjectStorage,
  ChunkingParams,
  EntryKind,
  TreeEntry,
  Tree,
  ChunkList,
  SnapshotUserEntry,
  SnapshotSummary,
  Snapshot,
  ObjectSink,
  WrittenPack,
  FileProgress,
  SnapshotStats,
  SnapshotOptions,
  SnapshotRunOptions,
  SnapshotRunResult,
  MaterializeOptions,
  MaterializeStats,
} from "./objects/index.js";
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
