import { lstat, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { RunMetaError } from "./errors.js";
import { runMetaDir, type Run } from "./run.js";
import { readUserLog } from "./user-log.js";

/** A `manifest` line: `{type} {sha256} {path}` (docs/gage-format.md §5). */
export interface ManifestEntry {
  /** `s` source, `r` runtime, `d` dependency, `g` generated. */
  type: string;
  sha256: string;
  path: string;
}

/** Parses a run manifest (splits each line on its first two spaces). */
export function parseManifest(text: string, path = "manifest"): ManifestEntry[] {
  const out: ManifestEntry[] = [];
  text.split("\n").forEach((line, i) => {
    if (line === "") return;
    const a = line.indexOf(" ");
    const b = a < 0 ? -1 : line.indexOf(" ", a + 1);
    if (a < 0 || b < 0) throw new RunMetaError(path, `Invalid manifest entry in ${path}, line ${i + 1}`);
    out.push({ type: line.slice(0, a), sha256: line.slice(a + 1, b), path: line.slice(b + 1) });
  });
  return out;
}

/** What `gage show` adds to a listed run: exit code, config, manifest with file sizes. */
export interface RunDetails {
  exitCode: number | undefined;
  config: Record<string, unknown>;
  /** Config keys whose value `config.json` writes as a float (`1.0`), which JSON.parse reads as 1. */
  floatKeys: string[];
  files: Array<ManifestEntry & { size: number | undefined }>;
}

async function readMaybe(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new RunMetaError(path, `Cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

export async function readRunDetails(run: Run): Promise<RunDetails> {
  const meta = runMetaDir(run);
  const exitText = await readMaybe(join(meta, "proc", "exit"));
  const exitCode = exitText === undefined || !/^-?\d+$/.test(exitText.trim()) ? undefined : Number(exitText.trim());
  const configPath = join(meta, "config.json");
  const configText = await readMaybe(configPath);
  let config: Record<string, unknown> = {};
  let floatKeys: string[] = [];
  if (configText !== undefined) {
    try {
      config = JSON.parse(configText) as Record<string, unknown>;
      floatKeys = floatValueKeys(configText);
    } catch (err) {
      throw new RunMetaError(configPath, `Invalid JSON in ${configPath}`, { cause: err });
    }
  }
  const manifestPath = join(meta, "manifest");
  const manifest = parseManifest((await readMaybe(manifestPath)) ?? "", manifestPath);
  const files = await Promise.all(
    manifest.map(async (e) => {
      try {
        return { ...e, size: (await lstat(join(run.paths.runDir, e.path))).size };
      } catch {
        // The manifest lists a file the run directory no longer has: show it without a size.
        return { ...e, size: undefined };
      }
    }),
  );
  return { exitCode, config, floatKeys, files };
}

const FLOAT_MARK = "\u0000float:";

/**
 * Top-level keys of a JSON object whose values are numbers written with a fraction or an
 * exponent: each such number is read as a marked string instead, then looked for.
 */
function floatValueKeys(text: string): string[] {
  let marked = "";
  let inString = false;
  const number = /-?\d+(\.\d+)?([eE][+-]?\d+)?/y;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (inString) {
      marked += ch;
      if (ch === "\\") marked += text[++i] ?? "";
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === "-" || (ch >= "0" && ch <= "9")) {
      number.lastIndex = i;
      const m = number.exec(text);
      if (m && (m[1] !== undefined || m[2] !== undefined)) {
        marked += JSON.stringify(FLOAT_MARK + m[0]);
        i += m[0].length - 1;
        continue;
      }
    }
    marked += ch;
  }
  const parsed = JSON.parse(marked) as unknown;
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return [];
  return Object.entries(parsed).filter(([, v]) => typeof v === "string" && v.startsWith(FLOAT_MARK)).map(([k]) => k);
}

/** One line of a run's output, as Gage's `RunOutputReader` yields it. */
export interface RunOutputLine {
  /** 0 stdout, 1 stderr. */
  stream: number;
  text: string;
}

/** One output file of a run (`output/40_run` is `run`; hooks write `sourcecode`, `finalize`, ...). */
export interface RunOutput {
  name: string;
  lines: RunOutputLine[];
}

const INDEX_RECORD = 9;

/**
 * A run's output files (`ID.meta/output/NN_NAME` with its `.index`), in name order, as `gage show`
 * reads them: one line per index record (big-endian ms timestamp, stream byte), trailing
 * whitespace dropped, invalid UTF-8 replaced. Lines past the last index record are not shown.
 */
export async function readRunOutput(run: Run): Promise<RunOutput[]> {
  const dir = join(runMetaDir(run), "output");
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return [];
    throw new RunMetaError(dir, `Cannot read ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const out: RunOutput[] = [];
  for (const indexName of names.filter((n) => n.endsWith(".index"))) {
    const base = indexName.slice(0, -".index".length);
    const [data, index] = await Promise.all([readBytes(join(dir, base)), readBytes(join(dir, indexName))]);
    if (data === undefined || index === undefined) continue;
    const parts = base.split("_");
    out.push({ name: parts.length === 2 ? parts[1]! : parts[0]!, lines: outputLines(data, index) });
  }
  return out;
}

function outputLines(data: Buffer, index: Buffer): RunOutputLine[] {
  const lines: RunOutputLine[] = [];
  const records = Math.floor(index.length / INDEX_RECORD);
  let start = 0;
  for (let i = 0; i < records && start < data.length; i++) {
    const nl = data.indexOf(0x0a, start);
    const end = nl < 0 ? data.length : nl;
    let stop = end;
    while (stop > start && ASCII_SPACE.has(data[stop - 1]!)) stop--;
    lines.push({ stream: index[i * INDEX_RECORD + 8]!, text: data.toString("utf8", start, stop) });
    start = end + 1;
  }
  return lines;
}

// What Python's `bytes.rstrip()` removes.
const ASCII_SPACE = new Set([0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]);

async function readBytes(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EISDIR") return undefined;
    throw new RunMetaError(path, `Cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** A run comment with the author of the user log entry that wrote it. */
export interface RunComment {
  id: string;
  author: string;
  msg: string;
  /** Epoch ms; undefined when the entry has none. */
  timestamp: number | undefined;
}

/**
 * A run's comments (`comment:ID` user attributes) oldest first, each with the author of the log
 * entry that last set it, as Gage's `get_comments`. Unreadable log entries are skipped.
 */
export async function readRunComments(run: Pick<Run, "paths">): Promise<RunComment[]> {
  const comments = new Map<string, RunComment>();
  for (const { entry } of await readUserLog(run.paths.userDir, { onWarning: () => {} })) {
    for (const [key, value] of Object.entries(entry.set)) {
      if (!key.startsWith("comment:")) continue;
      if (typeof value !== "object" || value === null) {
        comments.delete(key);
        continue;
      }
      const v = value as { msg?: unknown; timestamp?: unknown };
      comments.set(key, {
        id: key.slice("comment:".length),
        author: entry.author,
        msg: typeof v.msg === "string" ? v.msg : String(v.msg ?? ""),
        timestamp: typeof v.timestamp === "number" ? v.timestamp : undefined,
      });
    }
    for (const key of entry.delete) comments.delete(key);
  }
  return [...comments.values()].sort((a, b) => (a.timestamp ?? 0) - (b.timestamp ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
