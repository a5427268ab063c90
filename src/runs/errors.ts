import { GageError, type GageErrorOptions } from "../errors.js";

const LS_HINT = "Try 'gage ls' to list runs.";

/** The runs directory is missing, not a directory or cannot be read. */
export class RunsDirError extends GageError {
  readonly runsDir: string;
  constructor(runsDir: string, message: string, options: GageErrorOptions = {}) {
    super("RUNS_DIR", message, options);
    this.runsDir = runsDir;
  }
}

/** No run matches a spec (or a run id has no meta directory). */
export class RunNotFoundError extends GageError {
  readonly spec: string;
  constructor(spec: string, options: GageErrorOptions = {}) {
    super("RUN_NOT_FOUND", `No runs match '${spec}'`, { hint: LS_HINT, ...options });
    this.spec = spec;
  }
}

/** A run spec that cannot be parsed (e.g. an empty string or a malformed slice). */
export class RunSpecError extends GageError {
  readonly spec: string;
  constructor(spec: string, message: string, options: GageErrorOptions = {}) {
    super("RUN_SPEC", message, { hint: LS_HINT, ...options });
    this.spec = spec;
  }
}

/** One run was needed but a spec matched several. */
export class AmbiguousRunError extends GageError {
  readonly spec: string;
  /** Ids and names of the matching runs, in list order. */
  readonly matches: ReadonlyArray<{ id: string; name: string }>;
  constructor(spec: string, matches: ReadonlyArray<{ id: string; name: string }>, options: GageErrorOptions = {}) {
    const listed = matches.map((m) => `  ${m.id} (${m.name})`).join("\n");
    super("AMBIGUOUS_RUN", `'${spec}' matches ${matches.length} runs:\n${listed}`, {
      hint: "Use a longer id or name prefix, or an index from 'gage ls'.",
      ...options,
    });
    this.spec = spec;
    this.matches = matches;
  }
}

/** A command that needs runs got none (an empty runs directory, or a filter that matched none). */
export class NothingSelectedError extends GageError {
  constructor(message = "Nothing selected", options: GageErrorOptions = {}) {
    super("NOTHING_SELECTED", message, { hint: LS_HINT, ...options });
  }
}

/** A run's metadata (or user log) cannot be read or is of an unknown schema. */
export class RunMetaError extends GageError {
  readonly path: string;
  constructor(path: string, message: string, options: GageErrorOptions = {}) {
    super("RUN_META", message, options);
    this.path = path;
  }
}

/** A run folder or head whose name is not a run id: no path is ever built from it. */
export class RunIdError extends GageError {
  readonly id: string;
  constructor(id: string, where: string, options: GageErrorOptions = {}) {
    super("RUN_ID", `${JSON.stringify(id)} in ${where} is not a run id (Gage's lower-case UUID)`, {
      hint: "Rename or remove that folder; gage reads only runs whose folders are named by their UUID.",
      ...options,
    });
    this.id = id;
  }
}

/** A symlink where a run's folder or file belongs: nothing is written through it. */
export class RunSymlinkError extends GageError {
  readonly path: string;
  constructor(path: string, options: GageErrorOptions = {}) {
    super("UNSAFE_PATH", `Refusing to write through ${path}: it is a symlink`, {
      hint: "Remove the link (or replace it with the folder itself) and try again.",
      ...options,
    });
    this.path = path;
  }
}

/** Something other than a regular file (a FIFO, a device) or a huge file where a meta file belongs. */
export class RunFileError extends GageError {
  readonly path: string;
  constructor(path: string, why: string, options: GageErrorOptions = {}) {
    super("UNSAFE_PATH", `Refusing to read ${path}: it ${why}`, {
      hint: "Replace it with the file Gage wrote, or remove the run.",
      ...options,
    });
    this.path = path;
  }
}
