import { join } from "node:path";

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

export function runPaths(runsDir: string, id: string): RunPaths {
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
