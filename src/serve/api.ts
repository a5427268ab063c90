import { Readable } from "node:stream";
import type { Context } from "hono";
import { Hono } from "hono";
import { GageError } from "../errors.js";
import type { Run } from "../runs/run.js";
import { parseWhere } from "../runs/select.js";
import type { Credential } from "./auth.js";
import { FlagsCache, plainAttributes, runDetail, runRow } from "./details.js";
import { addComment, parseFilePath, setLabel, type RunPart, type RunSource } from "./source.js";

export interface ApiDeps {
  source: RunSource;
  /** The author of comments and labels when the credential names none (the OS user). */
  author: string;
  now: () => number;
}

export type ServeEnv = { Variables: { cred: Credential; rawPath: string } };

const MAX_PAGE = 500;
/** Sorting by a flag reads every matching run's config (an object read each on a remote). */
const MAX_FLAG_SORT = 5000;
const MAX_OUTPUT_PAGE = 1 << 20;
const MAX_COMMENT = 64 * 1024;
const MAX_LABEL = 1024;
const BUILTIN_SORT = ["index", "name", "operation", "started", "status", "label"] as const;
/** Image types a browser shows inline (never SVG: it may hold script). */
const IMAGE_TYPES: Record<string, string> = { png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", gif: "image/gif", webp: "image/webp" };

const notFound = (c: Context, what = "Not found") => c.json({ error: what }, 404);

function intParam(value: string | undefined, fallback: number, min: number, max: number): number {
  const n = value === undefined || !/^-?\d+$/.test(value) ? fallback : Number(value);
  return Math.min(max, Math.max(min, n));
}

function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === undefined || a === null) return 1;
  if (b === undefined || b === null) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  const sa = typeof a === "string" ? a : JSON.stringify(a);
  const sb = typeof b === "string" ? b : JSON.stringify(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

/** The JSON API (docs/serve.md "JSON API"); the caller checks credentials before it. */
export function apiRoutes(deps: ApiDeps): Hono<ServeEnv> {
  const { source } = deps;
  const flags = new FlagsCache(source);
  const api = new Hono<ServeEnv>();

  const runOf = async (c: Context<ServeEnv>): Promise<Run | undefined> => source.getRun(c.req.param("id") ?? "");

  /** Values of user-chosen columns (`flag:NAME`, `attr:NAME`) for one run. */
  const columnValues = async (run: Run, columns: readonly string[]): Promise<Record<string, unknown>> => {
    const out: Record<string, unknown> = {};
    const config = columns.some((k) => k.startsWith("flag:")) ? await flags.get(run) : {};
    for (const col of columns) {
      if (col.startsWith("flag:")) out[col] = config[col.slice(5)] ?? null;
      else if (col.startsWith("attr:")) out[col] = run.attrs[col.slice(5)] ?? null;
    }
    return out;
  };

  api.get("/runs", async (c) => {
    const q = c.req.query();
    const all = await source.listRuns();
    const indexed = all.map((run, i) => ({ run, index: i + 1 }));
    let rows = indexed;
    if (q.where?.trim()) {
      const test = parseWhere(q.where);
      rows = rows.filter((r) => test(r.run));
    }
    const columns = (q.columns ?? "").split(",").filter((k) => /^(flag|attr):.{1,200}$/.test(k)).slice(0, 20);
    const sort = q.sort ?? "";
    const desc = sort.startsWith("-");
    const key = desc ? sort.slice(1) : sort;
    if (key && key !== "index") {
      let value: (r: { run: Run; index: number }) => Promise<unknown> | unknown;
      if (key.startsWith("flag:") && rows.length > MAX_FLAG_SORT) {
        return c.json({ error: `Cannot sort ${rows.length} runs by a flag (at most ${MAX_FLAG_SORT}): filter them first` }, 400);
      }
      if (key.startsWith("flag:") || key.startsWith("attr:")) value = async (r) => (await columnValues(r.run, [key]))[key];
      else if ((BUILTIN_SORT as readonly string[]).includes(key)) value = (r) => runRow(r.run, r.index)[key];
      else return c.json({ error: `Cannot sort by '${key}': use index, name, operation, started, status, label, flag:NAME or attr:NAME` }, 400);
      const keyed = await Promise.all(rows.map(async (r) => ({ r, v: await value(r) })));
      keyed.sort((a, b) => {
        const d = compareValues(a.v, b.v);
        // Missing values sort last either way.
        if (a.v === null || a.v === undefined || b.v === null || b.v === undefined) return d || a.r.index - b.r.index;
        return (desc ? -d : d) || a.r.index - b.r.index;
      });
      rows = keyed.map((k) => k.r);
    } else if (desc) rows = [...rows].reverse();
    const offset = intParam(q.offset, 0, 0, Number.MAX_SAFE_INTEGER);
    const limit = intParam(q.limit, 100, 1, MAX_PAGE);
    const page = rows.slice(offset, offset + limit);
    return c.json({
      total: rows.length,
      offset,
      limit,
      runs: await Promise.all(page.map(async (r) => ({ ...runRow(r.run, r.index), ...(columns.length ? { columns: await columnValues(r.run, columns) } : {}) }))),
    });
  });

  api.get("/columns", async (c) => {
    const runs = (await source.listRuns()).slice(0, 200);
    const flagNames = new Set<string>();
    const attrNames = new Set<string>();
    for (const run of runs) {
      for (const k of Object.keys(await flags.get(run))) flagNames.add(k);
      for (const k of Object.keys(plainAttributes(run.attrs))) attrNames.add(k);
    }
    return c.json({ flags: [...flagNames].sort(), attributes: [...attrNames].sort() });
  });

  api.get("/runs/:id", async (c) => {
    const run = await runOf(c);
    if (run === undefined) return notFound(c, "No such run");
    return c.json(await runDetail(source, run, flags));
  });

  api.get("/runs/:id/output", async (c) => {
    const run = await runOf(c);
    if (run === undefined) return notFound(c, "No such run");
    const limit = intParam(c.req.query("limit"), 256 * 1024, 1, MAX_OUTPUT_PAGE);
    const head = await source.readFile(run, "meta", ["output", "40_run"], { start: 0, end: 0 });
    const size = head?.size ?? 0;
    const offset = c.req.query("tail") !== undefined ? Math.max(0, size - limit) : intParam(c.req.query("offset"), 0, 0, size);
    const read = head === undefined ? undefined : await source.readFile(run, "meta", ["output", "40_run"], { start: offset, end: offset + limit });
    let bytes = Buffer.alloc(0);
    if (read !== undefined) {
      const parts: Buffer[] = [];
      for await (const b of read.body) parts.push(b);
      bytes = Buffer.concat(parts);
    }
    // A full page ends at its last newline, so no line (or character) is cut in two.
    const nl = bytes.lastIndexOf(10);
    if (offset + bytes.length < size && nl >= 0) bytes = bytes.subarray(0, nl + 1);
    return c.json({ size, offset, next: offset + bytes.length, text: bytes.toString("utf8") });
  });

  const serveFile = (part: RunPart) => async (c: Context<ServeEnv>) => {
    const run = await runOf(c);
    if (run === undefined) return notFound(c, "No such run");
    const prefix = `/api/runs/${run.id}/${part}/`;
    const raw = c.get("rawPath");
    const at = raw.indexOf(prefix);
    const path = at < 0 ? undefined : parseFilePath(raw.slice(at + prefix.length));
    if (path === undefined) return notFound(c);
    let range = parseRange(c.req.header("range"));
    if (range === "bad") return c.body(null, 416);
    if (range !== undefined && range.start < 0) {
      const size = (await source.readFile(run, part, path, { start: 0, end: 0 }))?.size ?? 0;
      range = { start: Math.max(0, size + range.start) };
    }
    const read = await source.readFile(run, part, path, range);
    if (read === undefined) return notFound(c);
    if (range !== undefined && range.start >= read.size && read.size > 0) return c.body(null, 416, { "Content-Range": `bytes */${read.size}` });
    const name = path.at(-1)!;
    const ext = name.includes(".") ? name.slice(name.lastIndexOf(".") + 1).toLowerCase() : "";
    const image = IMAGE_TYPES[ext];
    const headers: Record<string, string> = {
      "Content-Type": image ?? "application/octet-stream",
      // Anything else is a download: run-provided HTML or SVG never renders in this origin.
      "Content-Disposition": `${image ? "inline" : "attachment"}; filename*=UTF-8''${encodeURIComponent(name)}`,
      "Content-Length": String(read.end - read.start),
      "Accept-Ranges": "bytes",
      "Content-Security-Policy": "default-src 'none'; sandbox",
      "Cache-Control": "no-cache",
    };
    if (range !== undefined) headers["Content-Range"] = `bytes ${read.start}-${Math.max(read.start, read.end - 1)}/${read.size}`;
    const body = Readable.toWeb(Readable.from(read.body)) as ReadableStream;
    return c.body(body, range !== undefined ? 206 : 200, headers);
  };
  api.get("/runs/:id/files/*", serveFile("files"));
  api.get("/runs/:id/meta/*", serveFile("meta"));

  const author = (c: Context<ServeEnv>) => c.get("cred").name ?? deps.author;

  api.post("/runs/:id/comments", async (c) => {
    const run = await runOf(c);
    if (run === undefined) return notFound(c, "No such run");
    const body = await jsonBody(c);
    const msg = typeof body?.msg === "string" ? body.msg.trim() : "";
    if (!msg) return c.json({ error: "Nothing added: the comment is empty" }, 400);
    if (msg.length > MAX_COMMENT) return c.json({ error: `The comment is longer than ${MAX_COMMENT} characters` }, 400);
    const id = await addComment(source, run, msg, { author: author(c), nowMs: deps.now() });
    return c.json({ id }, 201);
  });

  api.post("/runs/:id/label", async (c) => {
    const run = await runOf(c);
    if (run === undefined) return notFound(c, "No such run");
    const body = await jsonBody(c);
    const label = body?.label;
    if (label !== null && (typeof label !== "string" || label.length > MAX_LABEL)) {
      return c.json({ error: `"label" must be a string of at most ${MAX_LABEL} characters, or null to clear it` }, 400);
    }
    await setLabel(source, run, label === null || label.trim() === "" ? undefined : label.trim(), { author: author(c), nowMs: deps.now() });
    return c.json({ label: label === null ? null : label.trim() || null });
  });

  api.onError((err, c) => {
    if (err instanceof GageError && (err.code === "USAGE" || err.code === "RUN_SPEC")) return c.json({ error: err.message }, 400);
    throw err;
  });
  return api;
}

async function jsonBody(c: Context): Promise<Record<string, unknown> | undefined> {
  if (!/^application\/json\b/i.test(c.req.header("content-type") ?? "")) return undefined;
  try {
    const body = (await c.req.json()) as unknown;
    return typeof body === "object" && body !== null ? (body as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** One `bytes=a-b`, `bytes=a-` or `bytes=-n` range (end exclusive), else undefined; several ranges are "bad". */
export function parseRange(header: string | undefined): { start: number; end?: number } | undefined | "bad" {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return "bad";
  if (m[1] === "") return { start: -Number(m[2]) };
  const start = Number(m[1]);
  if (m[2] === "") return { start };
  const end = Number(m[2]) + 1;
  return end <= start ? "bad" : { start, end };
}
