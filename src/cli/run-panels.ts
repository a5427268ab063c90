import { dirname } from "node:path";
import type { ManifestEntry, RunComment, RunDetails, RunOutput } from "../runs/details.js";
import type { Run } from "../runs/run.js";
import { gridLines, panelInnerWidth, renderPanel, spreadLine, wrapText } from "./panel.js";
import { printable } from "./printable.js";
import { colors, renderTable, type TableColumn } from "./table.js";
import type { OutputStyle } from "./terminal.js";
import { formatDateTime, relativeTime } from "./time-format.js";

/**
 * What `gage show` and `gage comment --list` print, panel by panel, as Python Gage's
 * `show_impl.py` and `comment_impl.py` lay them out with rich (see docs/gage-compat.md for
 * where this differs on purpose).
 */
export interface ShowParts {
  run: Run;
  details: RunDetails;
  project: string | undefined;
  output: RunOutput[];
  comments: RunComment[];
  /** `$HOME`, shown as `~` at the start of paths. */
  home: string | undefined;
  nowMs: number;
}

export function renderShow(p: ShowParts, style: OutputStyle): string {
  const inner = panelInnerWidth(style);
  const { run } = p;
  const out: string[] = [];
  const header = [spreadLine(run.operation, run.status, inner)];
  if (run.label) header.push(...wrapText(printable(run.label), inner));
  out.push(renderPanel(run.id, header, style));
  const time = (us: number | undefined) => (us === undefined ? "" : formatDateTime(us / 1000));
  const attributes: Array<[string, string]> = [
    ["id", run.id],
    ["name", run.name],
    ["started", time(run.timestamps.started)],
    ["stopped", time(run.timestamps.stopped)],
    ["location", userDir(dirname(run.paths.runDir), p.home)],
    ["project", userDir(p.project ?? "", p.home)],
    ["exit_code", p.details.exitCode === undefined ? "" : String(p.details.exitCode)],
  ];
  out.push(renderPanel("Attributes", gridLines(attributes, inner, style), style));
  const config = Object.keys(p.details.config).sort();
  if (config.length > 0) {
    out.push(renderPanel("Configuration", gridLines(config.map((k) => [k, pyStr(p.details.config[k], p.details.floatKeys.includes(k))]), inner, style), style));
  }
  out.push(renderPanel("Files", renderFilesTable(p.details.files, { ...style, width: inner }, "panel").trimEnd().split("\n"), style));
  const output = p.output;
  if (output.length > 0) {
    const body: string[] = [];
    output.forEach((o, i) => {
      if (output.length > 1) {
        if (i > 0) body.push("");
        body.push(o.name, "─".repeat(inner));
      }
      for (const line of o.lines) body.push(...wrapText(printable(line.text), inner));
    });
    out.push(renderPanel("Output", body, style));
  }
  if (p.comments.length > 0) {
    const body: string[] = [];
    p.comments.forEach((c, i) => {
      if (i > 0) body.push("");
      const when = c.timestamp === undefined ? "" : relativeTime(c.timestamp, p.nowMs);
      body.push(spreadLine(c.author, when, inner), (style.plain ? "-" : "─").repeat(inner), ...markdownLines(c.msg, inner));
    });
    out.push(renderPanel("Comments", body, style));
  }
  return out.join("");
}

/** `gage comment --list`: one panel per comment. */
export function renderCommentPanel(run: Pick<Run, "name">, c: RunComment, style: OutputStyle): string {
  const inner = panelInnerWidth(style);
  const attrs: Array<[string, string]> = [
    ["author", c.author],
    ["date", c.timestamp === undefined ? "" : formatDateTime(c.timestamp)],
    ["run", run.name],
    ["comment id", c.id],
  ];
  return renderPanel(`${c.id} ${run.name}`, [...gridLines(attrs, inner, style), "", ...markdownLines(c.msg, inner)], style);
}

const FILE_TYPES: Record<string, string> = { s: "source code", d: "dependency", r: "runtime", g: "generated" };

/**
 * The files of a run's manifest in Gage's order (`natsorted` of `(type, sha256, path)`), with
 * their sizes. `panel`: the Files panel's table (no outer edge, no padding, a total footer, as
 * wide as the panel); `table`: `show --files`, a plain table sized to its content.
 */
export function renderFilesTable(files: RunDetails["files"], style: OutputStyle, kind: "panel" | "table"): string {
  const sorted = [...files].sort(naturalManifestOrder);
  const columns: TableColumn[] = [
    { header: "name" },
    { header: "type", color: colors.dim },
    { header: "size", justify: "right", color: colors.magenta },
  ];
  const rows = sorted.map((f) => [f.path, FILE_TYPES[f.type] ?? "unknown (type)", f.size === undefined ? "missing" : formatSize(f.size)]);
  if (kind === "table") return renderTable(columns, rows, style);
  const total = sorted.reduce((n, f) => n + (f.size ?? 0), 0);
  return renderTable(columns, rows, style, { expand: true, edge: false, padding: 0, footer: ["", "", `total: ${formatSize(total)}`], simpleBox: true });
}

const SIZE_UNITS = ["kB", "MB", "GB", "TB", "PB", "EB"];

/** Gage's `_format_file_size`: `N B` below 1000, else `human_readable.file_size` (decimal, one decimal). */
function formatSize(n: number): string {
  if (n < 1000) return `${n} B`;
  let i = 0;
  while (i < SIZE_UNITS.length - 1 && n >= 1000 ** (i + 2)) i++;
  return `${(n / 1000 ** (i + 1)).toFixed(1)} ${SIZE_UNITS[i]}`;
}

function naturalManifestOrder(a: ManifestEntry, b: ManifestEntry): number {
  return naturalCompare(a.type, b.type) || naturalCompare(a.sha256, b.sha256) || naturalCompare(a.path, b.path);
}

/**
 * Python `natsort`'s default order: text split into runs of digits (compared as numbers) and
 * the rest (compared as text).
 */
export function naturalCompare(a: string, b: string): number {
  const pa = a.split(/(\d+)/);
  const pb = b.split(/(\d+)/);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x === y) continue;
    if (i % 2 === 1) {
      const nx = x.replace(/^0+(?=\d)/, "");
      const ny = y.replace(/^0+(?=\d)/, "");
      if (nx.length !== ny.length) return nx.length - ny.length;
      if (nx !== ny) return nx < ny ? -1 : 1;
      continue;
    }
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

/**
 * Python's `str()` of a config value: `True`, `None`, `1.5`, `['a', 1]`, `{'k': 'v'}`; text as it
 * is. `float`: the value was written as a float, so `1` shows as `1.0`.
 */
export function pyStr(value: unknown, float = false): string {
  if (float && typeof value === "number" && Number.isInteger(value)) return pyFloat(value);
  return typeof value === "string" ? value : pyRepr(value);
}

function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : pyFloat(value);
  if (typeof value === "string") return pyQuote(value);
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(", ")}]`;
  if (typeof value === "object") {
    return `{${Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${pyQuote(k)}: ${pyRepr(v)}`)
      .join(", ")}}`;
  }
  return String(value);
}

function pyFloat(n: number): string {
  if (!Number.isFinite(n)) return Number.isNaN(n) ? "nan" : n > 0 ? "inf" : "-inf";
  const abs = Math.abs(n);
  if (abs !== 0 && (abs >= 1e16 || abs < 1e-4)) {
    const [mantissa, exp] = n.toExponential().split("e") as [string, string];
    return `${mantissa}e${exp.startsWith("-") ? "-" : "+"}${exp.replace(/^[+-]/, "").padStart(2, "0")}`;
  }
  return Number.isInteger(n) ? `${n}.0` : String(n);
}

function pyQuote(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  return quote + s.replace(/\\/g, "\\\\").replaceAll(quote, `\\${quote}`) + quote;
}

/** `~/…` for paths under the home folder, as Gage's `format_user_dir`. */
function userDir(path: string, home: string | undefined): string {
  if (!home || home === "/" || !(path === home || path.startsWith(home + "/"))) return path;
  return "~/" + path.slice(home.length + 1);
}

/**
 * A comment's Markdown as plain lines, close to what rich's Markdown prints without color:
 * paragraphs (blank-line separated, their lines joined) wrapped to the width, emphasis and code
 * marks dropped; headings, list items, quotes and fenced code keep their own lines.
 */
export function markdownLines(markdown: string, width: number): string[] {
  const out: string[] = [];
  let paragraph: string[] = [];
  let fenced = false;
  let last: "paragraph" | "item" | "block" | undefined;
  // rich separates top-level blocks with a blank line; list items follow each other.
  const start = (kind: "paragraph" | "item" | "block") => {
    if (last !== undefined && !(kind === "item" && last === "item")) out.push("");
    last = kind;
  };
  const flush = () => {
    if (paragraph.length === 0) return;
    start("paragraph");
    out.push(...wrapText(printable(inlineMarkdown(paragraph.join(" "))), width));
    paragraph = [];
  };
  for (const raw of markdown.split("\n")) {
    const line = raw.trimEnd();
    if (/^\s*(```|~~~)/.test(line)) {
      flush();
      fenced = !fenced;
      if (fenced) start("block");
      continue;
    }
    if (fenced) {
      out.push(...wrapText(printable(line), width));
      continue;
    }
    if (line.trim() === "") {
      flush();
      continue;
    }
    const block = /^\s*(#{1,6}\s+|[-*+]\s+|\d+[.)]\s+|>\s?)(.*)$/.exec(line);
    if (block) {
      flush();
      const marker = block[1]!.trim();
      const item = !marker.startsWith("#") && marker !== ">";
      start(item ? "item" : "block");
      const lead = !item ? (marker === ">" ? "▌ " : "") : /^[-*+]$/.test(marker) ? "• " : `${marker} `;
      out.push(...wrapText(printable(lead + inlineMarkdown(block[2]!)), width));
      continue;
    }
    paragraph.push(line.trim());
  }
  flush();
  return out;
}

function inlineMarkdown(text: string): string {
  return text
    .replace(/`([^`]*)`/g, "$1")
    .replace(/(\*\*|__)(?=\S)(.+?)(?<=\S)\1/g, "$2")
    .replace(/(\*|_)(?=\S)(.+?)(?<=\S)\1/g, "$2")
    .replace(/!?\[([^\]]*)\]\(([^)]*)\)/g, "$1 ($2)");
}
