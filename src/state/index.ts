// The one owner of `.gage-sync/` (docs/formats.md, Local state): every file sync keeps in a runs
// directory, how it is written (files.ts), and where it lives (layout.ts).
export { STATE_DIR, stateDir, statePaths } from "./layout.js";
export { commitStateFile, readStateFile, type StateFileReader } from "./files.js";
export { readDefaultRemote, writeDefaultRemote } from "./config.js";
export { RunStates, presentRuns, namesIn, ofPresentRun, readRunHistory, addRunHistory, readPending, writePending, clearPending, type RunHistory } from "./runs.js";
export { RemoteState } from "./remote.js";
export { GitSyncState, type SyncedRun } from "./git.js";
