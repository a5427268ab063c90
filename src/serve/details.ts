import pLimit from "p-limit";
import { runComments } from "../runs/ops.js";
import { runTimestamp, type Run } from "../runs/run.js";
import { readSmallFile, type RunSource } from "./source.js";

/** Files listed on a run page at most (a run with more says so). */
export const MAX_FILES = 20_000;

const iso = (us: number | undefined): string | null => (us === undefined ? null : new Date(us / 1000).toISOString());

/** A run as the runs table shows it (and `GET /api/runs` returns it). */
export function runRow(run: Run, index: number): Record<string, unknown> {
  return {
    index,
    id: run.id,
    name: run.name,
    operation: run.operation,
    status: run.status,
    started: iso(run.timestamps.started ?? runTimestamp(run)),
    label: run.label ?? null,
  };
}

/** User attributes as a user sees them: not the label, tags or comments, which are shown apart. */
export function plainAttributes(attrs: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(attrs)) if (k !== "label" && k !== "tags" && !k.startsWith("comment:")) out[k] = v;
  return out;
}

async function readJson(source: RunSource, run: Run, path: string): Promise<unknown> {
  const bytes = await readSmallFile(source, run, "meta", path);
  if (bytes === undefined) return undefined;
  try {
    return JSON.parse(bytes.toString("utf8")) as unknown;
  } catch {
    return undefined;
  }
}

async function readInteger(source: RunSource, run: Run, path: string): Promise<number | undefined> {
  const text = (await readSmallFile(source, run, "meta", path, 64))?.toString("utf8").trim();
  return text !== undefined && /^-?\d+$/.test(text) ? Number(text) : undefined;
}

/**
 * Flags (`config.json`) of runs, read once each: a run's config does not change once it started,
 * and on a remote reading it costs object reads.
 */
export class FlagsCache {
  readonly #known = new Map<string, Promise<Record<string, unknown>>>();
  readonly #limit = pLimit(8);
  constructor(readonly source: RunSource) {}

  get(run: Run): Promise<Record<string, unknown>> {
    // A run started again (a remote's newer push of it) has other flags: its start time is part of the key.
    const key = `${run.id}@${run.timestamps.started ?? run.timestamps.staged ?? ""}`;
    let known = this.#known.get(key);
    if (known === undefined) {
      known = this.#limit(async () => {
        const config = await readJson(this.source, run, "config.json");
        return typeof config === "object" && config !== null && !Array.isArray(config) ? (config as Record<string, unknown>) : {};
      });
      known.catch(() => this.#known.delete(key));
      this.#known.set(key, known);
    }
    return known;
  }
}

/** Everything the run page shows (`GET /api/runs/ID`). */
export async function runDetail(source: RunSource, run: Run, flags: FlagsCache): Promise<Record<string, unknown>> {
  const [log, config, exitCode, stopped, command, env, platform, files, output] = await Promise.all([
    source.userLog(run),
    flags.get(run),
    readInteger(source, run, "proc/exit"),
    readInteger(source, run, "stopped"),
    readJson(source, run, "proc/cmd.json"),
    readJson(source, run, "proc/env.json"),
    readJson(source, run, "sys/platform.json"),
    source.listFiles(run, "files", MAX_FILES),
    source.readFile(run, "meta", ["output", "40_run"], { start: 0, end: 0 }),
  ]);
  const authors = new Map<string, string>();
  for (const { entry } of log) for (const key of Object.keys(entry.set)) if (key.startsWith("comment:")) authors.set(key, entry.author);
  const started = run.timestamps.started;
  const tags = run.attrs.tags;
  return {
    ...runRow(run, 0),
    index: undefined,
    stopped: iso(stopped),
    duration: started !== undefined && stopped !== undefined ? (stopped - started) / 1e6 : null,
    exitCode: exitCode ?? null,
    tags: Array.isArray(tags) ? tags.map(String) : [],
    flags: config,
    attributes: plainAttributes(run.attrs),
    comments: runComments(run).map((c) => ({
      id: c.id,
      author: authors.get(`comment:${c.id}`) ?? null,
      msg: c.msg,
      time: c.timestamp === undefined ? null : new Date(c.timestamp).toISOString(),
    })),
    files: files.files,
    filesTruncated: files.truncated,
    output: { size: output?.size ?? 0 },
    meta: { command: command ?? null, env: env ?? null, platform: platform ?? null },
  };
}
