import { PyFloat, pyRepr, type ConfigValue } from "./values.js";

/** Where a config value sits in a Python source: its literal's span and how it was written. */
interface PySlot {
  start: number;
  end: number;
  /** The quote of a string literal, so a new string keeps it; undefined for other literals. */
  quote?: "'" | '"';
}

interface Token {
  kind: "name" | "number" | "string" | "op" | "newline";
  text: string;
  start: number;
  end: number;
  /** True for the first token of a logical line that starts at column 0. */
  topLevel: boolean;
}

/**
 * The config of a Python file as Gage reads it: module-level assignments `NAME = literal` of an
 * int, float, plain string, True, False or None; lists and dicts of them give `NAME.0`,
 * `NAME.key`. Other statements are left alone.
 */
export class PythonConfig {
  readonly values = new Map<string, ConfigValue>();
  private readonly slots = new Map<string, PySlot>();

  constructor(readonly source: string) {
    const tokens = tokenize(source);
    let i = 0;
    while (i < tokens.length) {
      const stmtEnd = findStatementEnd(tokens, i);
      if (tokens[i]!.topLevel) this.readAssign(tokens.slice(i, stmtEnd));
      i = stmtEnd + 1;
    }
  }

  /** The source with `values` written into their literals (unchanged keys keep their text). */
  apply(config: Record<string, ConfigValue>): string {
    const edits: Array<{ slot: PySlot; text: string }> = [];
    for (const [key, slot] of this.slots) {
      if (!(key in config)) continue;
      const value = config[key]!;
      const text = slot.quote && typeof value === "string" ? encodeString(value, slot.quote) : pyRepr(value);
      edits.push({ slot, text });
    }
    edits.sort((a, b) => b.slot.start - a.slot.start);
    let out = this.source;
    for (const { slot, text } of edits) out = out.slice(0, slot.start) + text + out.slice(slot.end);
    return out;
  }

  private readAssign(stmt: Token[]): void {
    // NAME = [NAME = ...] value
    const targets: string[] = [];
    let i = 0;
    while (stmt[i]?.kind === "name" && stmt[i + 1]?.text === "=") {
      targets.push(stmt[i]!.text);
      i += 2;
    }
    if (targets.length === 0) return;
    for (const target of targets) this.readValue(target, stmt, i, stmt.length);
  }

  /** Reads the expression `stmt[from..to)` as the value of `key`. */
  private readValue(key: string, stmt: Token[], from: number, to: number): void {
    const first = stmt[from];
    if (!first) return;
    if (to - from === 1) {
      const simple = simpleValue(first);
      if (simple !== undefined) {
        this.values.set(key, simple.value);
        this.slots.set(key, { start: first.start, end: first.end, quote: simple.quote });
      }
      return;
    }
    const last = stmt[to - 1]!;
    if (first.text === "[" && last.text === "]") {
      splitItems(stmt, from + 1, to - 1).forEach(([a, b], n) => this.readValue(`${key}.${n}`, stmt, a, b));
    } else if (first.text === "{" && last.text === "}") {
      for (const [a, b] of splitItems(stmt, from + 1, to - 1)) {
        const k = stmt[a];
        const simple = k ? simpleValue(k) : undefined;
        if (!simple || typeof simple.value !== "string" || stmt[a + 1]?.text !== ":") continue;
        this.readValue(`${key}.${simple.value}`, stmt, a + 2, b);
      }
    }
  }
}

function simpleValue(t: Token): { value: ConfigValue; quote?: "'" | '"' } | undefined {
  if (t.kind === "string") {
    const q = t.text[0];
    if ((q === "'" || q === '"') && !t.text.startsWith(q.repeat(3))) return { value: t.text.slice(1, -1), quote: q };
    return undefined;
  }
  if (t.kind === "number") {
    const digits = t.text.replace(/_/g, "");
    if (/^\d+$/.test(digits)) return { value: Number.parseInt(digits, 10) };
    if (/^(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?$/.test(digits)) return { value: new PyFloat(Number.parseFloat(digits)) };
    return undefined;
  }
  if (t.kind === "name") {
    if (t.text === "True") return { value: true };
    if (t.text === "False") return { value: false };
    if (t.text === "None") return { value: null };
  }
  return undefined;
}

/** Item ranges of a bracketed list `[from, to)`, split at depth-0 commas. */
function splitItems(tokens: Token[], from: number, to: number): Array<[number, number]> {
  const items: Array<[number, number]> = [];
  let depth = 0;
  let start = from;
  for (let i = from; i < to; i++) {
    const t = tokens[i]!.text;
    if (t === "[" || t === "(" || t === "{") depth++;
    else if (t === "]" || t === ")" || t === "}") depth--;
    else if (t === "," && depth === 0) {
      if (i > start) items.push([start, i]);
      start = i + 1;
    }
  }
  if (to > start) items.push([start, to]);
  return items;
}

function findStatementEnd(tokens: Token[], from: number): number {
  let i = from;
  while (i < tokens.length && tokens[i]!.kind !== "newline") i++;
  return i;
}

function encodeString(value: string, quote: "'" | '"'): string {
  return quote + value.replaceAll(quote, "\\" + quote) + quote;
}

const NAME_START = /[\p{L}_]/u;
const NAME_CHAR = /[\p{L}\p{N}_]/u;

/**
 * A small Python tokenizer: enough to find module-level statements and their literals. A logical
 * line ends at a newline or `;` outside brackets; strings (triple-quoted and prefixed ones too),
 * comments and line continuations are skipped over correctly.
 */
function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let depth = 0;
  let lineStart = true;
  let column0 = true;
  /** No token yet on this physical line: whitespace here is indentation. */
  let bol = true;
  let i = 0;
  const push = (kind: Token["kind"], start: number, end: number) => {
    tokens.push({ kind, text: src.slice(start, end), start, end, topLevel: lineStart && column0 });
    lineStart = false;
    bol = false;
  };
  const endLine = (at: number) => {
    if (!lineStart) tokens.push({ kind: "newline", text: "", start: at, end: at, topLevel: false });
    lineStart = true;
  };
  while (i < src.length) {
    const ch = src[i]!;
    if (ch === "\n") {
      if (depth === 0) {
        endLine(i);
        column0 = true;
        bol = true;
      }
      i++;
      continue;
    }
    if (ch === " " || ch === "\t" || ch === "\r" || ch === "\f") {
      if (bol && depth === 0) column0 = false;
      i++;
      continue;
    }
    if (ch === "#") {
      while (i < src.length && src[i] !== "\n") i++;
      continue;
    }
    if (ch === "\\" && src[i + 1] === "\n") {
      i += 2;
      continue;
    }
    const strMatch = /^[rRbBuUfF]{0,2}(?:'''|"""|'|")/.exec(src.slice(i, i + 5));
    if (strMatch) {
      const quote = strMatch[0].replace(/^[rRbBuUfF]+/, "");
      let j = i + strMatch[0].length;
      while (j < src.length && !src.startsWith(quote, j)) {
        if (src[j] === "\\") j++;
        else if (src[j] === "\n" && quote.length === 1) break;
        j++;
      }
      j = Math.min(src.length, j + quote.length);
      push("string", i, j);
      i = j;
      continue;
    }
    if (/\d/.test(ch) || (ch === "." && /\d/.test(src[i + 1] ?? ""))) {
      const m = /^(?:0[xXoObB][\da-fA-F_]+|(?:\d[\d_]*)?\.?[\d_]*(?:[eE][+-]?\d+)?[jJ]?)/.exec(src.slice(i))!;
      push("number", i, i + Math.max(1, m[0].length));
      i += Math.max(1, m[0].length);
      continue;
    }
    if (NAME_START.test(ch)) {
      let j = i + 1;
      while (j < src.length && NAME_CHAR.test(src[j]!)) j++;
      push("name", i, j);
      i = j;
      continue;
    }
    if (ch === ";" && depth === 0) {
      endLine(i);
      i++;
      continue;
    }
    if (ch === "(" || ch === "[" || ch === "{") depth++;
    else if (ch === ")" || ch === "]" || ch === "}") depth = Math.max(0, depth - 1);
    // `==`, `<=`, `+=` and the like are one operator, so `x += 1` is not an assignment.
    const op = /^(?:\*\*=|\/\/=|>>=|<<=|[-+*/%&|^@<>=!:]=|->|\*\*|\/\/|<<|>>|.)/s.exec(src.slice(i, i + 3))![0];
    push("op", i, i + op.length);
    i += op.length;
  }
  endLine(src.length);
  return tokens;
}
