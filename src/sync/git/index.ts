// Git remotes: a branch whose tree is a plain runs directory (DESIGN.md section 5), reached through
// isomorphic-git over HTTP(S) or read in place in a bare repository. isomorphic-git is loaded at
// first use (src/remotes/git/objects.ts), so importing this room costs a command nothing.
export type { GitSession } from "./session.js";
export { planGitPush, DEFAULT_MAX_PACK_BYTES } from "./push.js";
export { planGitPull } from "./pull.js";
export { gitStatus, listGitRemoteRuns } from "./status.js";
export { LargeFilesError } from "./errors.js";
export type { GitRemoteRun } from "./runs.js";
