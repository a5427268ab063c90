import { join } from "node:path";
import { RunIdError } from "./errors.js";

/** Where one run's entries live in a runs directory (docs/gage-format.md §1). */
export interface RunPaths {
  id: string;
  /** `ID/`: the run's files. */
  runDir: string;
  /** `ID.meta/`: metadata of a live run. */
  metaDir: string;
  /** `ID.meta.deleted/`: metadata of a deleted run (`gage delete` renames `metaDir` to this). */
  deletedMetaDir: string;
  /** `ID.user/`: the append-only user attribute log (kept as is when a run is deleted). */
  userDir: string;
  /** `ID.project`: the local project reference; never shared. */
  projectFile: string;
}

export const META_SUFFIX = ".meta";
export const DELETED_META_SUFFIX = ".meta.deleted";

/**
 * What `join(runsDir, NAME)` starts with for a plain NAME (no `/`, not `.` or `..`): code that
 * names the folders of thousands of runs joins the runs directory once, not once per run.
 */
export function runsDirPrefix(runsDir: string): string {
  return join(runsDir, "x").slice(0, -1);
}

/** The three folders a run's sums cover, `ID/`, `ID.meta/`, `ID.user/`, as `runPaths` names them (`prefix`: `runsDirPrefix`). */
export function pushRunFolders(roots: string[], prefix: string, id: string): void {
  roots.push(prefix + id, `${prefix}${id}${META_SUFFIX}`, `${prefix}${id}.user`);
}

const RUN_ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A run id as Gage writes it: a lower-case UUID (`str(uuid.uuid4())`), one safe path segment. */
export function isRunId(id: unknown): id is string {
  return typeof id === "string" && RUN_ID_RE.test(id);
}

/**
 * The paths of run `id`. Paths are built only from a checked run id (a folder name or a head's
 * id, never a file's contents), so no run's paths can point outside `runsDir` or at another run.
 * @throws RunIdError when `id` is not a run id.
 */
export function runPaths(runsDir: string, id: string): RunPaths {
  if (!isRunId(id)) throw new RunIdError(id, runsDir);
  const runDir = join(runsDir, id);
  return {
    id,
    runDir,
    metaDir: runDir + META_SUFFIX,
    deletedMetaDir: runDir + DELETED_META_SUFFIX,
    userDir: runDir + ".user",
    projectFile: runDir + ".project",
  };
}
