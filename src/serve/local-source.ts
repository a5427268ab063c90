import { createReadStream } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { RunNotFoundError } from "../runs/errors.js";
import { listRuns, readRun, runMetaDir, type Run } from "../runs/run.js";
import { appendUserLog, readUserLog } from "../runs/user-log.js";
import type { ChangeContext, FileRead, RunPart, RunSource, SourceFile, UserChange } from "./source.js";

/** How long a listing of the runs directory is reused (a page of the table, then the next). */
const LIST_TTL_MS = 1500;

/** A local runs directory, read and written with the runs room's own functions (those of `gage ls` and `gage comment`). */
export class RunsDirSource implements RunSource {
  readonly kind = "runs-dir";
  readonly location: string;
  readonly #onWarning: ((msg: string) => void) | undefined;
  #listed: { at: number; runs: Promise<Run[]> } | undefined;

  constructor(runsDir: string, opts: { onWarning?: (msg: string) => void } = {}) {
    this.location = runsDir;
    this.#onWarning = opts.onWarning;
  }

  listRuns(): Promise<readonly Run[]> {
    const now = Date.now();
    if (this.#listed === undefined || now - this.#listed.at > LIST_TTL_MS) {
      const runs = listRuns(this.location, this.#onWarning ? { onWarning: this.#onWarning } : {});
      this.#listed = { at: now, runs };
      runs.catch(() => (this.#listed = undefined));
    }
    return this.#listed.runs;
  }

  async getRun(id: string): Promise<Run | undefined> {
    if (!/^[0-9a-fA-F-]{8,64}$/.test(id)) return undefined;
    try {
      return await readRun(this.location, id, { deleted: false, ...(this.#onWarning ? { onWarning: this.#onWarning } : {}) });
    } catch (err) {
      if (err instanceof RunNotFoundError) return undefined;
      throw err;
    }
  }

  userLog(run: Run) {
    return readUserLog(run.paths.userDir, this.#onWarning ? { onWarning: this.#onWarning } : {});
  }

  async listFiles(run: Run, part: RunPart, limit: number): Promise<{ files: SourceFile[]; truncated: boolean }> {
    const files: SourceFile[] = [];
    let truncated = false;
    const walk = async (dir: string, prefix: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const e of entries) {
        if (files.length >= limit) {
          truncated = true;
          return;
        }
        const path = prefix + e.name;
        if (e.isDirectory()) await walk(join(dir, e.name), path + "/");
        else if (e.isFile()) files.push({ path, size: (await lstat(join(dir, e.name))).size });
      }
    };
    await walk(rootOf(run, part), "");
    return { files, truncated };
  }

  async readFile(run: Run, part: RunPart, path: readonly string[], range?: { start: number; end?: number }): Promise<FileRead | undefined> {
    // Each step is checked with lstat: a symlink anywhere on the way is not followed.
    let full = rootOf(run, part);
    for (let i = 0; i < path.length; i++) {
      full = join(full, path[i]!);
      const st = await lstat(full).catch(() => undefined);
      const last = i === path.length - 1;
      if (st === undefined || (last ? !st.isFile() : !st.isDirectory())) return undefined;
      if (last) {
        const start = Math.min(range?.start ?? 0, st.size);
        const end = Math.max(start, Math.min(range?.end ?? st.size, st.size));
        const body = end > start ? createReadStream(full, { start, end: end - 1 }) : emptyBody();
        return { size: st.size, start, end, body };
      }
    }
    return undefined;
  }

  async appendUser(run: Run, change: UserChange, ctx: ChangeContext): Promise<void> {
    await appendUserLog(run.paths.userDir, change, ctx);
    this.#listed = undefined;
  }

  async close(): Promise<void> {}
}

function rootOf(run: Run, part: RunPart): string {
  return part === "files" ? run.paths.runDir : runMetaDir(run);
}

async function* emptyBody(): AsyncGenerator<Buffer> {}
