import { isAbsolute } from "node:path";
import pLimit from "p-limit";
import { UsageError } from "../../errors.js";
import { listRemotes, openRemoteSpec } from "../../remotes/config.js";
import { openLocation, type OpenStorageOptions } from "../../remotes/open.js";
import type { Storage } from "../../remotes/storage.js";
import { parseStorageUrl } from "../../remotes/url.js";
import { UnsupportedNameError } from "../../objects/errors.js";
import { hasRawBytes } from "../../objects/names.js";
import { NothingSelectedError } from "../../runs/errors.js";
import type { Run } from "../../runs/run.js";
import { FsRunsSide } from "./fs-side.js";
import { RUN_ID, type RunPart } from "./keys.js";
import {
  describeRun,
  planRuns,
  selectSendingRuns,
  type CopyDirection,
  type CopyPlanData,
  type CopySelection,
  type PlannedFile,
  type PlannedRun,
} from "./plan.js";
import type { FileData, RunsSide } from "./side.js";
import { StorageRunsSide } from "./storage-side.js";

export type { RunPart } from "./keys.js";
export { describeRun } from "./plan.js";
export type { CopyDirection, CopySelection, PlannedFile, PlannedRun } from "./plan.js";

export interface CopyOptions extends CopySelection {
  /** The local runs directory (absolute). */
  runsDir: string;
  /** `to`: local runs go to `target`; `from`: runs in `target` come into `runsDir`. */
  direction: CopyDirection;
  /**
   * The other runs directory, in the plain Gage layout: a path (absolute, or relative to `cwd`),
   * `file://`, `s3://`, `ssh://` or `user@host:path`, or the name of a configured remote
   * (`[repos.NAME]`; a bare word that names none is a folder). A local path is read and written with plain
   * fs (modes and mtimes kept, symlinks refused); a URL through its `Storage`.
   */
  target: string;
  cwd?: string;
  /** Use this storage for the other side instead of opening `target`; the caller closes it. */
  storage?: Storage;
  /** Passed to `openStorage` and used to find configured remotes (env, home). */
  storageOptions?: OpenStorageOptions;
  onWarning?: (msg: string) => void;
}

/** Progress of `executeCopy`: totals first, then each file written and each run completed. */
export type CopyEvent =
  | { type: "start"; runs: number; files: number; bytes: number }
  | { type: "file"; runId: string; key: string; bytes: number }
  | { type: "run"; runId: string; isNew: boolean };

/** A planned copy: what will move. Close it (or run it with `executeCopy`, which closes it). */
export interface CopyPlan extends CopyPlanData {
  /** Where the other side is (no secrets). */
  where: string;
  files: number;
  bytes: number;
  /** The two ends: the sending and the receiving runs directory. */
  readonly sides: { sender: RunsSide; receiver: RunsSide };
  close(): Promise<void>;
}

export interface CopiedRun {
  id: string;
  name: string;
  operation: string;
  label: string | null;
  /** `new`, or what changed: `update 3, user +1`. */
  what: string;
  files: number;
  bytes: number;
}

export interface CopyResult {
  direction: CopyDirection;
  where: string;
  /** Runs something was written for. */
  copied: CopiedRun[];
  /** Selected runs that were already up to date on the receiving side. */
  upToDate: string[];
  /** Selected runs skipped because the receiving side has them deleted. */
  skippedDeleted: string[];
  /** Runs whose diverged files `force` settled, with those paths. */
  forced: Array<{ runId: string; paths: string[] }>;
  files: number;
  bytes: number;
}

async function openOther(options: CopyOptions): Promise<RunsSide> {
  if (options.storage) return new StorageRunsSide(options.storage, false);
  const ctx: OpenStorageOptions = { ...options.storageOptions };
  if (options.cwd !== undefined) ctx.cwd = options.cwd;
  // A bare word may name a configured remote ([repos.NAME]); otherwise it is a folder here.
  const named = /^[\w][\w.-]*$/.test(options.target)
    ? (await listRemotes(ctx)).find((r) => r.name === options.target)
    : undefined;
  // The CLI copies to and from a Git remote through its push and pull (src/sync/git).
  if (named?.type === "git") throw new UsageError(`'${options.target}' is a Git remote: copy to and from it with gage copy, push or pull`);
  const location = named?.location ?? parseStorageUrl(options.target, options.cwd);
  if (location.type === "local") return new FsRunsSide(location.path, warnOpts(options, true));
  return new StorageRunsSide(await (named ? openRemoteSpec(named, ctx) : openLocation(location, ctx)), true);
}

function warnOpts(options: CopyOptions, outside: boolean): { outside: boolean; onWarning?: (msg: string) => void } {
  return options.onWarning ? { outside, onWarning: options.onWarning } : { outside };
}

/**
 * Plans a copy: selects runs on the sending side and compares them with the receiving side.
 * Writes nothing.
 *
 * @throws UsageError when no runs are named and neither `all` nor `where` is given.
 * @throws RunNotFoundError for a spec that matches no run.
 * @throws ConflictError when files diverged and `force` is not set.
 * @throws UnsafePathError for a symlink or hostile key on a side from outside.
 */
export async function planCopy(options: CopyOptions): Promise<CopyPlan> {
  if (!isAbsolute(options.runsDir)) throw new TypeError(`runsDir must be absolute: ${options.runsDir}`);
  const local = new FsRunsSide(options.runsDir, warnOpts(options, false));
  const other = await openOther(options);
  let closing: Promise<void> | undefined;
  try {
    const [sender, receiver] = options.direction === "to" ? [local, other] : [other, local];
    const { runs, named } = selectSendingRuns(await listSendingRuns(sender, options.onWarning), options);
    const data = await planRuns(sender, receiver, options.direction, runs, named, options);
    // A storage's keys are UTF-8: a name that is not stops the copy before anything is written.
    if (!(receiver instanceof FsRunsSide)) {
      const raw = data.runs.flatMap((r) => r.files.filter((f) => hasRawBytes(f.to)).map((f) => f.from));
      if (raw.length > 0) throw new UnsupportedNameError(raw, `${other.where} (its keys are UTF-8)`);
    }
    let files = 0;
    let bytes = 0;
    for (const r of data.runs) {
      files += r.files.length;
      bytes += r.bytes;
    }
    return Object.assign(data, {
      where: other.where,
      files,
      bytes,
      sides: { sender, receiver },
      close: () => (closing ??= other.close()),
    });
  } catch (err) {
    await other.close();
    throw err;
  }
}

/**
 * The sending side's runs: those whose id is a run id (a UUID; copy reads and writes no other
 * names), each other one named in a warning. A side where every run was skipped is an error
 * that names them, not an empty runs directory.
 * @throws NothingSelectedError when the side has runs and none can be copied.
 */
async function listSendingRuns(sender: RunsSide, onWarning: ((msg: string) => void) | undefined): Promise<Run[]> {
  let warned = 0;
  const listed = await sender.listRuns((msg) => {
    warned++;
    onWarning?.(msg);
  });
  const runs = listed.filter((r) => RUN_ID.test(r.id));
  const bad = listed.filter((r) => !RUN_ID.test(r.id)).map((r) => r.id);
  if (runs.length === 0 && bad.length + warned > 0) {
    const named = bad.length === 0 ? "every run there was skipped (see the warnings above)" : `${bad.slice(0, 3).map((id) => JSON.stringify(id)).join(", ")}${bad.length > 3 ? ", ..." : ""} ${bad.length === 1 ? "is not a run id" : "are not run ids"} (a run id is a UUID)`;
    throw new NothingSelectedError(`No runs to copy in ${sender.where}: ${named}`, {
      hint: "copy reads Gage runs directories, where each run is ID/ and ID.meta/ with ID a UUID.",
    });
  }
  for (const id of bad) onWarning?.(`Skipping run ${JSON.stringify(id)} in ${sender.where}: its id is not a UUID`);
  return runs;
}

const writeLimit = pLimit(8);

/** Files up to this size are read whole: for the many small files of runs, streams cost more. */
const WHOLE_FILE = 1024 * 1024;

/**
 * Writes what `plan` lists, run by run: the run's files and user entries first, its meta last,
 * so a new run appears on the receiving side only once complete. Every file goes under a
 * temporary name and is renamed into place (an atomic put on a storage). Closes the plan.
 */
export async function executeCopy(plan: CopyPlan, opts: { onProgress?: (e: CopyEvent) => void } = {}): Promise<CopyResult> {
  const { sender, receiver } = plan.sides;
  const emit = opts.onProgress ?? (() => {});
  try {
    emit({ type: "start", runs: plan.runs.length, files: plan.files, bytes: plan.bytes });
    for (const p of plan.runs) await copyRun(sender, receiver, p, emit);
  } finally {
    await plan.close();
  }
  return copyResult(plan);
}

async function copyRun(sender: RunsSide, receiver: RunsSide, p: PlannedRun, emit: (e: CopyEvent) => void): Promise<void> {
  const id = p.run.id;
  const send = async (f: PlannedFile, write: (data: FileData) => Promise<void>) => {
    await write(f.size <= WHOLE_FILE ? await sender.load(f.from) : await sender.read(f.from));
    emit({ type: "file", runId: id, key: f.to, bytes: f.size });
  };
  const attrs = (f: PlannedFile) => ({
    mode: f.mode & 0o777,
    ...(f.mtimeMs === undefined ? {} : { mtimeMs: f.mtimeMs }),
    ...(f.sha256 === undefined ? {} : { sha256: f.sha256 }),
  });
  const ofPart = (part: RunPart) => p.files.filter((f) => f.part === part);
  await Promise.all([...ofPart("files"), ...ofPart("user")].map((f) => writeLimit(() => send(f, (d) => receiver.write(f.to, d, attrs(f))))));
  const meta = ofPart("meta");
  if (meta.length > 0) {
    const writer = await receiver.beginMeta(p.metaDir);
    const prefix = `${p.metaDir}/`;
    await Promise.all(meta.map((f) => writeLimit(() => send(f, (d) => writer.write(f.to.slice(prefix.length), d, attrs(f))))));
    await writer.commit();
  }
  await receiver.removeStrays?.([id, p.metaDir, `${id}.user`]);
  emit({ type: "run", runId: id, isNew: p.isNew });
}

/** What a plan moves (or moved), as `CopyResult` reports it. */
export function copyResult(plan: CopyPlan): CopyResult {
  return {
    direction: plan.direction,
    where: plan.where,
    copied: plan.runs.map((p) => ({
      id: p.run.id,
      name: p.run.name,
      operation: p.run.operation,
      label: p.run.label ?? null,
      what: describeRun(p),
      files: p.files.length,
      bytes: p.bytes,
    })),
    upToDate: plan.upToDate.map((r: Run) => r.id),
    skippedDeleted: plan.skippedDeleted.map((r: Run) => r.id),
    forced: plan.forced.map((c) => ({ runId: c.runId, paths: [...c.paths] })),
    files: plan.files,
    bytes: plan.bytes,
  };
}

/** Plans and executes a copy in one call. */
export async function copyRuns(options: CopyOptions & { onProgress?: (e: CopyEvent) => void }): Promise<CopyResult> {
  const plan = await planCopy(options);
  return executeCopy(plan, options.onProgress ? { onProgress: options.onProgress } : {});
}
