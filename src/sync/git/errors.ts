import { GageError, type GageErrorOptions } from "../../errors.js";

/**
 * Files at or over a Git remote's `max_file_size` with no `lfs` store to hold them: the push
 * stops before anything is sent (Git hosts refuse files over 100 MB, and packs are built in memory).
 */
export class LargeFilesError extends GageError {
  readonly files: ReadonlyArray<{ path: string; size: number }>;
  readonly limit: number;
  constructor(files: ReadonlyArray<{ path: string; size: number }>, limit: number, remote: string, options: GageErrorOptions = {}) {
    const shown = files.slice(0, 5).map((f) => `${f.path} (${f.size} bytes)`).join(", ");
    super("TOO_LARGE", `${files.length === 1 ? "A file is" : `${files.length} files are`} at or over max_file_size (${limit} bytes) for ${remote}, and no lfs store is set: ${shown}${files.length > 5 ? ", ..." : ""}; nothing was sent`, {
      hint: "Set lfs = \"REMOTE\" (a folder, s3:// or ssh:// remote for large files) in the remote's [repos.NAME] table, raise max_file_size, or push without those files: --only meta,user.",
      ...options,
    });
    this.files = files;
    this.limit = limit;
  }
}
