// Push, pull, clone, status and remote listing over the content-addressed store on any Storage.
export { push, planPush, CATALOG_EVERY, type PushOptions, type PushResult } from "./push.js";
export { pull, planPull, type PullResult } from "./pull.js";
export { clone, planClone, type CloneOptions } from "./clone.js";
export { status, type StatusOptions, type StatusResult, type RunStatusRow } from "./status.js";
export { startRunSums, type StartedSums } from "./started-sums.js";
export { listRemoteRuns, type RemoteRun } from "./remote-runs.js";
export { openRemote, closeRemote, remoteOrDefault, setDefaultRemote, gitRemoteSpec, type OpenRemote, type RemoteContext } from "./remote.js";
export { readDefaultRemote, writeDefaultRemote, STATE_DIR } from "../state/index.js";
export { ConflictError, StoreFormatError, StoreIncompleteError, type RunConflict } from "./errors.js";
export { gc, planGc, DEFAULT_GRACE_MS, type GcOptions, type GcPlan, type GcProgressEvent, type GcResult } from "./gc.js";
export type { SyncState } from "./merge.js";
export type { HeadEntry, RunSummary } from "./heads.js";
export {
  RUN_PARTS,
  type RunPart,
  type SyncOptions,
  type SyncProgressEvent,
  type PlannedRun,
  type TransferPlan,
} from "./session.js";
export {
  verify,
  parseSubset,
  type VerifyOptions,
  type VerifyResult,
  type VerifyProblem,
  type VerifyProblemKind,
  type VerifySeverity,
  type VerifyProgressEvent,
  type VerifyCounts,
} from "./verify.js";
