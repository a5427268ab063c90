import { lstatSync, readdirSync, readFileSync, type Stats } from "node:fs";
import { join } from "node:path";
import pLimit from "p-limit";
import { hashFile } from "../objects/index.js";
import { RunMetaError, RunsDirError } from "../runs/errors.js";
import { META_SUFFIX, runPaths } from "../runs/layout.js";
import { readRun, sortRuns, type Run } from "../runs/run.js";
import { selectRuns } from "../runs/select.js";
import { parseUserLogEntry } from "../runs/user-log.js";
import { isStoreRunId, isUserLogName } from "./heads.js";
import { emptyCounts, statusOf, type VerifyOptions, type VerifyProblem, type VerifyProblemKind, type VerifyResult } from "./verify-result.js";

// `gage verify --local` (verify.ts): the runs directory itself. Paths are built from folder names
// only, never from what files say; only regular files are read (a FIFO would hang the check).

const FINISHED = new Set(["completed", "error", "terminated"]);
const MANIFEST_LINE = /^([srdg]) ([0-9a-f]{64}) (.+)$/;
// Paths a problem names; its message counts them all.
const NAMED = 5;

const RESTORE_FILES =
  "Restore them from a copy ('gage clone REMOTE NEWDIR' gets the remote's), and push this run only once they match its manifest again.";

/** Why `rel` (from a manifest) is not a path inside the run, or undefined. */
function unsafePath(rel: string): string | undefined {
  if (rel.startsWith("/")) return "an absolute path";
  if (rel.includes("\0") || rel.includes("\\")) return "a NUL or backslash";
  if (rel.split("/").some((s) => s === "" || s === "." || s === "..")) return "an empty, '.' or '..' segment";
  return undefined;
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw err;
  }
}

interface RunCheck {
  id: string;
  run?: Run;
}

/** The runs directory's runs by folder, each read or marked unreadable. */
async function readRuns(runsDir: string, problems: VerifyProblem[]): Promise<RunCheck[]> {
  let names: string[];
  try {
    names = readdirSync(runsDir);
  } catch (err) {
    throw new RunsDirError(runsDir, `Runs directory ${runsDir} cannot be read (${(err as NodeJS.ErrnoException).code})`, { cause: err });
  }
  const out: RunCheck[] = [];
  for (const name of names) {
    if (!name.endsWith(META_SUFFIX)) continue;
    const id = name.slice(0, -META_SUFFIX.length);
    if (!isStoreRunId(id)) continue;
    try {
      // User log problems are reported below, entry by entry.
      out.push({ id, run: await readRun(runsDir, id, { deleted: false, onWarning: () => undefined }) });
    } catch (err) {
      if (!(err instanceof RunMetaError)) throw err;
      problems.push({
        severity: "damaged",
        kind: "meta-unreadable",
        where: `${id}${META_SUFFIX}`,
        message: `${id}${META_SUFFIX} cannot be read: ${err.message}`,
        runs: [id],
        hint: `Restore ${id}${META_SUFFIX} from a copy of the run (a remote, a backup); Gage lists the run only once it reads.`,
      });
      out.push({ id });
    }
  }
  return out;
}

export async function verifyLocalRuns(opts: VerifyOptions): Promise<VerifyResult> {
  const { runsDir } = opts;
  const problems: VerifyProblem[] = [];
  const counts = emptyCounts();
  const all = await readRuns(runsDir, problems);
  const readable = sortRuns(all.flatMap((c) => (c.run ? [c.run] : [])));
  const specs = opts.runs ?? [];
  const chosen = specs.length === 0 ? readable : selectRuns(readable, specs);
  if (specs.length > 0) {
    // Unreadable runs are named by id prefix only; their problems stay only when asked for.
    const asked = (id: string) => specs.some((s) => id.startsWith(s));
    for (let i = problems.length - 1; i >= 0; i--) if (!asked(problems[i]!.runs[0]!)) problems.splice(i, 1);
  }
  counts.runs = chosen.length + problems.length;


  // `what` is [one, many]: "file differs", "files differ".
  const perRun = (id: string, kind: VerifyProblemKind, severity: VerifyProblem["severity"], what: [string, string], paths: string[], hint: string) => {
    if (paths.length === 0) return;
    const named = paths.slice(0, NAMED).join(", ") + (paths.length > NAMED ? `, and ${paths.length - NAMED} more` : "");
    const where = kind === "meta-unreadable" || kind === "manifest-damaged" ? `${id}${META_SUFFIX}` : kind === "user-log-invalid" ? `${id}.user` : `${id}/${paths[0]}`;
    problems.push({ severity, kind, where, message: `${id}: ${paths.length} ${what[paths.length === 1 ? 0 : 1]}: ${named}`, runs: [id], hint });
  };

  const toHash: { id: string; rel: string; path: string; digest: string; size: number }[] = [];
  const realFolders = new Set<string>();
  // Run id → its files that differ from the manifest (not regular files now, hashes after).
  const changed = new Map<string, string[]>();
  for (const run of chosen) {
    const { id } = run;
    const paths = runPaths(runsDir, id);
    const metaId = readOptionalText(join(paths.metaDir, "id"));
    if (metaId !== undefined && metaId.trim() !== id) {
      perRun(id, "meta-unreadable", "damaged", ["meta file names another run", "meta files name another run"], [`${id}${META_SUFFIX}/id says ${JSON.stringify(metaId.trim().slice(0, 80))}`], `Restore ${id}${META_SUFFIX}/id from a copy of the run.`);
    }
    perRun(id, "user-log-invalid", "damaged", ["user log entry is invalid", "user log entries are invalid"], badUserLog(paths.userDir), `Gage skips them: restore them from a copy of the run, or move them out of ${id}.user/.`);
    if (!FINISHED.has(run.status)) continue;
    const manifest = readOptionalText(join(paths.metaDir, "manifest"));
    if (manifest === undefined) continue;
    const badLines: string[] = [];
    const missing: string[] = [];
    const odd: string[] = [];
    for (const line of manifest.split("\n")) {
      if (line === "") continue;
      const m = MANIFEST_LINE.exec(line);
      const bad = m ? unsafePath(m[3]!) : "not 'type sha256 path'";
      if (!m || bad !== undefined) {
        badLines.push(`${JSON.stringify(line.slice(0, 80))} (${bad})`);
        continue;
      }
      const path = join(paths.runDir, m[3]!);
      const via = linkedFolder(paths.runDir, m[3]!, realFolders);
      const st = via === undefined ? lstatOrUndefined(path) : undefined;
      if (via !== undefined) odd.push(`${m[3]!} (through a symlink${via === "link" ? "" : `: ${via}`})`);
      else if (st === undefined) missing.push(m[3]!);
      else if (!st.isFile()) odd.push(`${m[3]!} (not a regular file)`);
      else toHash.push({ id, rel: m[3]!, path, digest: m[2]!, size: st.size });
    }
    perRun(id, "manifest-damaged", "damaged", ["manifest line cannot be used", "manifest lines cannot be used"], badLines, `Restore ${id}${META_SUFFIX}/manifest from a copy of the run.`);
    perRun(id, "file-missing", "missing", ["file in its manifest is missing", "files in its manifest are missing"], missing, RESTORE_FILES);
    if (odd.length > 0) changed.set(id, odd);
  }

  const total = toHash.reduce((n, f) => n + f.size, 0);
  opts.onProgress?.({ phase: "files", items: 0, bytes: 0, total: { items: toHash.length, bytes: total } });
  const limit = pLimit(opts.concurrency ?? 4);
  await Promise.all(
    toHash.map((f) =>
      limit(async () => {
        if ((await hashFile(f.path)) !== f.digest) {
          const list = changed.get(f.id) ?? [];
          list.push(f.rel);
          changed.set(f.id, list);
        }
        opts.onProgress?.({ phase: "files", items: 1, bytes: f.size });
      }),
    ),
  );
  for (const [id, rels] of [...changed].sort()) perRun(id, "file-damaged", "damaged", ["file differs from its manifest", "files differ from its manifest"], rels.sort(), RESTORE_FILES);
  counts.files = toHash.length;
  counts.fileBytes = total;
  // By run, then kind: the order does not depend on which hash finished first.
  problems.sort((a, b) => (a.runs[0]! < b.runs[0]! ? -1 : a.runs[0]! > b.runs[0]! ? 1 : a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0));
  return { target: runsDir, mode: "local", counts, problems, status: statusOf(problems) };
}

/** `parseUserLogEntry`'s reason without the path it repeats. */
function whyInvalid(message: string, path: string): string {
  if (message.startsWith("Invalid JSON")) return "not JSON";
  const after = message.split(`${path}`)[1]?.replace(/^:?\s*/, "");
  return after || "invalid";
}

/**
 * Whether a folder on the way to `rel` is a symlink (`link`), or not a folder (why), or undefined
 * when every one is a real folder. `real` remembers folders found real.
 */
function linkedFolder(runDir: string, rel: string, real: Set<string>): string | undefined {
  const parts = rel.split("/");
  let dir = runDir;
  for (const part of parts.slice(0, -1)) {
    dir = join(dir, part);
    if (real.has(dir)) continue;
    const st = lstatOrUndefined(dir);
    if (st === undefined) return undefined;
    if (st.isSymbolicLink()) return "link";
    if (!st.isDirectory()) return `${part} is not a folder`;
    real.add(dir);
  }
  return undefined;
}

function readOptionalText(path: string): string | undefined {
  const st = lstatOrUndefined(path);
  if (st === undefined || !st.isFile()) return undefined;
  return readFileSync(path, "utf8");
}

/** Entries of a user log that Gage cannot apply, each with why. */
function badUserLog(userDir: string): string[] {
  const st = lstatOrUndefined(userDir);
  if (st === undefined) return [];
  if (!st.isDirectory()) return [`${userDir} (not a folder)`];
  const bad: string[] = [];
  for (const name of readdirSync(userDir).sort()) {
    if (!name.endsWith(".json") || name.startsWith(".")) continue;
    const path = join(userDir, name);
    const fst = lstatOrUndefined(path);
    if (!isUserLogName(name)) bad.push(`${name} (not a log entry name)`);
    else if (fst === undefined || !fst.isFile()) bad.push(`${name} (not a regular file)`);
    else {
      try {
        parseUserLogEntry(readFileSync(path, "utf8"), path);
      } catch (err) {
        bad.push(`${name} (${whyInvalid((err as Error).message, path)})`);
      }
    }
  }
  return bad;
}
