import { existsSync, openSync, readSync, closeSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { comparePy } from "./values.js";

/** Gage's default source code patterns: small text files, no dot-dirs or virtualenvs. */
export const DEFAULT_SOURCECODE_PATTERNS = [
  "**/* text size<10000 max-matches=500",
  "-**/.* dir",
  "-**/* dir sentinel=bin/activate",
  "-**/* dir sentinel=.nocopy",
];

interface Rule {
  include: boolean;
  regex: RegExp;
  type: "text" | "binary" | "dir" | undefined;
  sentinel: string;
  sizeLt: number | undefined;
  sizeGt: number | undefined;
  maxMatches: number | undefined;
  matches: number;
}

/**
 * Gage's file select patterns: a glob (`**` any folders, `*` and `?` within a name), then
 * tokens `text`, `binary`, `dir`, `size<N`, `size>N`, `sentinel=PATH`, `max-matches=N`. A leading
 * `-` excludes. The last rule that applies to a file decides; `dir` rules prune folders.
 */
export function parsePatterns(patterns: readonly string[]): Rule[] {
  return patterns.map((p) => {
    let spec = p;
    let include = true;
    if (spec.startsWith("\\-")) spec = spec.slice(1);
    else if (spec.startsWith("-")) [spec, include] = [spec.replace(/^- */, ""), false];
    const [glob = "", ...tokens] = spec.trim().split(/\s+/);
    const size = (op: string) => {
      const t = tokens.find((x) => x.startsWith(`size${op}`));
      return t && /^\d+$/.test(t.slice(5)) ? Number(t.slice(5)) : undefined;
    };
    const max = tokens.find((t) => /^max-matches=\d+$/.test(t));
    return {
      include,
      regex: globRegex(glob, "/"),
      type: (["dir", "text", "binary"] as const).find((t) => tokens.includes(t)),
      sentinel: tokens.find((t) => t.startsWith("sentinel="))?.slice(9) ?? "",
      sizeLt: size("<"),
      sizeGt: size(">"),
      maxMatches: max ? Number(max.slice(12)) : undefined,
      matches: 0,
    };
  });
}

/**
 * A glob as Gage turns it into a regex, matched from the start of the path: `**` + `sep` is any
 * number of leading parts, `*` and `?` stay within one part.
 */
export function globRegex(glob: string, sep: "/" | "."): RegExp {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  const notSep = `[^${esc(sep)}]`;
  let re = "";
  let pos = 0;
  const matcher = sep === "/" ? /\*\*\/?|\*|\?/g : /\*\*\.?|\*|\?/g;
  for (const m of glob.matchAll(matcher)) {
    re += esc(glob.slice(pos, m.index));
    re += m[0] === "*" ? `${notSep}*` : m[0] === "?" ? `${notSep}?` : `(?:.+${esc(sep)})*`;
    pos = m.index! + m[0].length;
  }
  return new RegExp(`^${re}${esc(glob.slice(pos))}$`, "u");
}

function testRule(rule: Rule, dir: string, relpath: string): boolean | undefined {
  if (rule.maxMatches !== undefined && rule.matches >= rule.maxMatches) return undefined;
  if (!rule.regex.test(relpath)) return undefined;
  const full = join(dir, relpath);
  if (rule.type === "dir") {
    if (!isDir(full)) return undefined;
    if (rule.sentinel && !existsSync(join(full, rule.sentinel))) return undefined;
  } else if (rule.type === "text" || rule.type === "binary") {
    if (isTextFile(full) !== (rule.type === "text")) return undefined;
  }
  if (rule.sizeLt !== undefined || rule.sizeGt !== undefined) {
    const size = fileSize(full);
    const ok = size === undefined || (rule.sizeGt !== undefined && size > rule.sizeGt) || (rule.sizeLt !== undefined && size < rule.sizeLt);
    if (!ok) return undefined;
  }
  rule.matches++;
  return rule.include;
}

/**
 * The files under `dir` that the patterns select, as sorted `/`-separated relative paths. Walks
 * as Python's `os.walk` (top-down, sorted, following links), so `max-matches` counts the same files.
 */
export function selectFiles(dir: string, patterns: readonly string[]): string[] {
  const rules = parsePatterns(patterns);
  const fileRules = rules.filter((r) => r.type !== "dir");
  const dirRules = rules.filter((r) => r.type === "dir");
  const selected: string[] = [];
  const walk = (rel: string) => {
    let entries: string[];
    try {
      entries = readdirSync(join(dir, rel)).sort(comparePy);
    } catch {
      return;
    }
    const files: string[] = [];
    const dirs: string[] = [];
    for (const name of entries) (isDir(join(dir, rel, name)) ? dirs : files).push(name);
    const keptDirs = dirs.filter((name) => {
      let last: boolean | undefined;
      for (const rule of dirRules) last = testRule(rule, dir, join(rel, name)) ?? last;
      return last !== false;
    });
    for (const name of files) {
      const relpath = rel ? `${rel}/${name}` : name;
      let last: boolean | undefined;
      for (const rule of fileRules) last = testRule(rule, dir, relpath) ?? last;
      if (last === true) selected.push(relpath);
    }
    for (const name of keptDirs) walk(rel ? `${rel}/${name}` : name);
  };
  walk("");
  return selected.sort(comparePy);
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function fileSize(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

/**
 * Gage's text test on the first 1024 bytes: empty files are text; a NUL or any control byte
 * other than BEL, BS, TAB, LF, FF, CR, ESC (or DEL) makes a file binary.
 */
export function isTextFile(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return false;
  }
  try {
    const buf = Buffer.alloc(1024);
    const n = readSync(fd, buf, 0, 1024, 0);
    for (let i = 0; i < n; i++) {
      const b = buf[i]!;
      if (b === 0x7f || (b < 0x20 && ![7, 8, 9, 10, 12, 13, 27].includes(b))) return false;
    }
    return true;
  } finally {
    closeSync(fd);
  }
}
