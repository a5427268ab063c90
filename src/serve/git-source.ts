import { UsageError } from "../errors.js";
import type { GitRemoteSpec, RemoteContext } from "../remotes/config.js";
import type { GitOid, GitTreeEntry } from "../remotes/git/objects.js";
import { sortRuns, type Run } from "../runs/run.js";
import { parseUserLogEntry, type UserLogEntry } from "../runs/user-log.js";
import { readBranch, readUserTree, type Branch, type BranchRun } from "../sync/git/branch.js";
import { MAX_POINTER, parseLfsPointer } from "../sync/git/lfs.js";
import { readGitRemoteRun, type GitRemoteRun } from "../sync/git/runs.js";
import { closeGitSession, openGitSession, type GitSession } from "../sync/git/session.js";
import type { ChangeContext, FileRead, RunPart, RunSource, SourceFile, UserChange } from "./source.js";

/** The branch is fetched again at most this often: new pushes show up, a page of the table costs no fetch. */
const REFRESH_MS = 5000;
/** Where the branch's runs would live: no runs directory is read or written. */
const NO_RUNS_DIR = "/nonexistent-gage-serve";

const isFile = (e: GitTreeEntry) => e.mode === "100644" || e.mode === "100755";

/**
 * A Git remote's branch, read-only: fetched into the runs directory's `.gage-sync/git/` (as pull
 * fetches it: a second fetch transfers only new objects), runs listed from a few meta files each,
 * files read from the fetched objects (each checked against its id, every tree's names checked)
 * and large files from the `lfs` store. Comments and labels are refused: they are commits, made
 * with `gage label` and `gage push`.
 */
export class GitSource implements RunSource {
  readonly kind = "git";
  readonly readOnly = true;
  readonly location: string;
  readonly #s: GitSession;
  readonly #onWarning: ((msg: string) => void) | undefined;
  readonly #now: () => number;
  #refreshed: { at: number; done: Promise<void> } | undefined;
  /** Runs read by the trees of their meta and user folders: only a changed run is read again. */
  #read = new Map<string, { meta: GitOid | undefined; user: GitOid | undefined; run: GitRemoteRun | undefined }>();
  #runs: GitRemoteRun[] = [];
  readonly #sizes = new Map<GitOid, number>();

  private constructor(s: GitSession, opts: { onWarning?: ((msg: string) => void) | undefined; now?: (() => number) | undefined }) {
    this.#s = s;
    this.location = s.spec.url;
    this.#onWarning = opts.onWarning;
    this.#now = opts.now ?? Date.now;
  }

  /** Fetches the branch into `runsDir`'s state (a scratch folder when there is no runs directory). */
  static async open(spec: GitRemoteSpec, ctx: RemoteContext & { runsDir: string; onWarning?: (msg: string) => void; now?: () => number }): Promise<GitSource> {
    const s = await openGitSession({ ...ctx, runsDir: ctx.runsDir }, spec);
    try {
      const source = new GitSource(s, ctx);
      await source.#readRunsOf(s.branch);
      return source;
    } catch (err) {
      await closeGitSession(s, false);
      throw err;
    }
  }

  #refresh(): Promise<void> {
    const now = this.#now();
    if (this.#refreshed === undefined || now - this.#refreshed.at > REFRESH_MS) {
      const done = (async () => {
        const tip = await this.#s.repo.fetch();
        if (tip !== this.#s.branch.tip) await this.#readRunsOf(await readBranch(this.#s.repo.objects, tip));
      })();
      this.#refreshed = { at: now, done };
      done.catch(() => (this.#refreshed = undefined));
    }
    return this.#refreshed.done;
  }

  async #readRunsOf(branch: Branch): Promise<void> {
    const read = new Map<string, { meta: GitOid | undefined; user: GitOid | undefined; run: GitRemoteRun | undefined }>();
    for (const b of branch.runs.values()) {
      const known = this.#read.get(b.id);
      if (known !== undefined && known.meta === b.meta && known.user === b.user) {
        read.set(b.id, { ...known, run: known.run === undefined ? undefined : { ...known.run, branch: b } });
        continue;
      }
      read.set(b.id, { meta: b.meta, user: b.user, run: await readGitRemoteRun(this.#s.repo.objects, b, NO_RUNS_DIR, this.#onWarning) });
    }
    this.#read = read;
    this.#s.branch = branch;
    this.#runs = sortRuns([...read.values()].flatMap((r) => (r.run === undefined ? [] : [r.run]))) as GitRemoteRun[];
  }

  async listRuns(): Promise<readonly Run[]> {
    await this.#refresh();
    return this.#runs;
  }

  async getRun(id: string): Promise<Run | undefined> {
    await this.#refresh();
    return this.#read.get(id)?.run;
  }

  #branchRun(run: Run): BranchRun {
    return this.#s.branch.runs.get(run.id) ?? (run as GitRemoteRun).branch ?? { id: run.id };
  }

  async userLog(run: Run): Promise<Array<{ name: string; entry: UserLogEntry }>> {
    const out: Array<{ name: string; entry: UserLogEntry }> = [];
    const entries = await readUserTree(this.#s.repo.objects, this.#branchRun(run), this.#onWarning);
    for (const [name, oid] of [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const where = `${run.id}.user/${name}`;
      const bytes = await this.#s.repo.objects.read(oid, "blob", where);
      try {
        out.push({ name, entry: parseUserLogEntry(bytes.toString("utf8"), where) });
      } catch (err) {
        this.#onWarning?.(`${(err as Error).message} (skipped)`);
      }
    }
    return out;
  }

  #partTree(run: Run, part: RunPart): GitOid | undefined {
    const b = this.#branchRun(run);
    return part === "files" ? b.files : b.meta;
  }

  /** A file's size as a viewer sees it: a pointer's size when its contents are in the lfs store. */
  async #size(oid: GitOid, where: string): Promise<number> {
    const known = this.#sizes.get(oid);
    if (known !== undefined) return known;
    // A packed blob too long to be an lfs pointer is the file itself: its entry header says its size (reading the file checks it).
    const entry = this.#s.repo.objects.blobEntry(oid);
    if (entry !== undefined && (entry.size > MAX_POINTER || !this.#s.lfs.configured)) {
      this.#sizes.set(oid, entry.size);
      return entry.size;
    }
    const data = await this.#s.repo.objects.read(oid, "blob", where);
    const pointer = this.#s.lfs.configured ? parseLfsPointer(data) : undefined;
    const size = pointer?.size ?? data.length;
    this.#sizes.set(oid, size);
    return size;
  }

  async listFiles(run: Run, part: RunPart, limit: number): Promise<{ files: SourceFile[]; truncated: boolean }> {
    const tree = this.#partTree(run, part);
    if (tree === undefined) return { files: [], truncated: false };
    const found: Array<{ path: string; oid: GitOid }> = [];
    const walk = async (oid: GitOid, prefix: string): Promise<void> => {
      for (const e of await this.#s.repo.objects.readTree(oid, prefix)) {
        if (e.mode === "40000") await walk(e.oid, `${prefix}/${e.name}`);
        else if (isFile(e)) found.push({ path: `${prefix}/${e.name}`, oid: e.oid });
      }
    };
    const root = part === "files" ? run.id : `${run.id}.meta`;
    await walk(tree, root);
    found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const files: SourceFile[] = [];
    for (const f of found.slice(0, limit)) files.push({ path: f.path.slice(root.length + 1), size: await this.#size(f.oid, f.path) });
    return { files, truncated: found.length > limit };
  }

  async readFile(run: Run, part: RunPart, path: readonly string[], range?: { start: number; end?: number }): Promise<FileRead | undefined> {
    let oid = this.#partTree(run, part);
    let where = part === "files" ? run.id : `${run.id}.meta`;
    let entry: GitTreeEntry | undefined;
    for (const [i, name] of path.entries()) {
      if (oid === undefined) return undefined;
      entry = (await this.#s.repo.objects.readTree(oid, where)).find((e) => e.name === name);
      where = `${where}/${name}`;
      if (entry === undefined) return undefined;
      if (i < path.length - 1) {
        if (entry.mode !== "40000") return undefined;
        oid = entry.oid;
      }
    }
    if (entry === undefined || !isFile(entry)) return undefined;
    const data = await this.#s.repo.objects.read(entry.oid, "blob", where);
    const pointer = this.#s.lfs.configured ? parseLfsPointer(data) : undefined;
    const size = pointer?.size ?? data.length;
    const start = Math.min(Math.max(range?.start ?? 0, 0), size);
    const end = Math.max(start, Math.min(range?.end ?? size, size));
    const lfs = this.#s.lfs;
    async function* body(): AsyncGenerator<Buffer> {
      if (end <= start) return;
      if (pointer === undefined) {
        yield data.subarray(start, end);
        return;
      }
      // Streamed from the lfs store, checked whole as it passes; only the range is sent.
      let at = 0;
      for await (const piece of lfs.read(pointer.oid, pointer.size)) {
        const from = Math.max(start - at, 0);
        const to = Math.min(end - at, piece.length);
        if (to > from) yield piece.subarray(from, to);
        at += piece.length;
      }
    }
    return { size, start, end, body: body() };
  }

  async appendUser(run: Run, _change: UserChange, _ctx: ChangeContext): Promise<void> {
    throw new UsageError(`${this.location} is served read-only: run ${run.id} was not changed`, { hint: "Label or comment the run with gage label or gage comment, then gage push." });
  }

  async close(): Promise<void> {
    await closeGitSession(this.#s, true);
  }
}
