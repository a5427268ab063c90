import { pythonJsonDumps } from "../runs/py-json.js";

/**
 * A Python float. Kept apart from integers so that `x=1.0` is written back as `1.0` (in
 * `config.json` and in patched files), as Python Gage writes it.
 */
export class PyFloat {
  constructor(readonly value: number) {}
  toJSON(): number {
    return this.value;
  }
}

/** A config or flag value: what Python Gage keeps in `config.json`. */
export type ConfigValue = null | boolean | number | string | PyFloat | ConfigValue[];
export type RunConfig = Record<string, ConfigValue>;

/** Python's `repr(float)`: shortest round-trip digits, `1.0` for integral values, `1e-05`, `1e+16`. */
export function pyFloatRepr(n: number): string {
  if (Number.isNaN(n)) return "nan";
  if (!Number.isFinite(n)) return n > 0 ? "inf" : "-inf";
  const abs = Math.abs(n);
  if (abs !== 0 && (abs >= 1e16 || abs < 1e-4)) {
    const [mantissa, exp] = n.toExponential().split("e") as [string, string];
    const sign = exp.startsWith("-") ? "-" : "+";
    return `${mantissa}e${sign}${exp.replace(/^[+-]/, "").padStart(2, "0")}`;
  }
  const s = String(n);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** Python's `repr(str)`: single quotes unless the text has one and no double quote. */
export function pyStrRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === quote || ch === "\\") out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (code < 0x20 || code === 0x7f) out += "\\x" + code.toString(16).padStart(2, "0");
    else out += ch;
  }
  return out + quote;
}

/** Python's `repr()` of a config value, as Gage writes a new value into a Python file. */
export function pyRepr(value: ConfigValue): string {
  if (value === null) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : pyFloatRepr(value);
  if (typeof value === "string") return pyStrRepr(value);
  if (value instanceof PyFloat) return pyFloatRepr(value.value);
  return `[${value.map(pyRepr).join(", ")}]`;
}

/**
 * `json.dumps(value, indent=2, sort_keys=True)` as Python writes it (ensure_ascii on): how Gage
 * writes `opdef.json`, `config.json` and `proc/*.json`.
 */
export function pythonJsonIndent(value: unknown, indent = ""): string {
  if (value instanceof PyFloat) return floatJson(value.value);
  if (typeof value === "number" && !Number.isInteger(value)) return floatJson(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    const inner = indent + "  ";
    return `[\n${value.map((v) => inner + pythonJsonIndent(v, inner)).join(",\n")}\n${indent}]`;
  }
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined).sort(comparePy);
    if (keys.length === 0) return "{}";
    const inner = indent + "  ";
    const items = keys.map((k) => `${inner}${pythonJsonDumps(k)}: ${pythonJsonIndent((value as Record<string, unknown>)[k], inner)}`);
    return `{\n${items.join(",\n")}\n${indent}}`;
  }
  return pythonJsonDumps(value);
}

function floatJson(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (!Number.isFinite(n)) return n > 0 ? "Infinity" : "-Infinity";
  return pyFloatRepr(n);
}

/** Python's string order (by code point), for `sort_keys` and sorted paths. */
export function comparePy(a: string, b: string): number {
  if (a === b) return 0;
  const ai = a[Symbol.iterator]();
  const bi = b[Symbol.iterator]();
  for (;;) {
    const x = ai.next();
    const y = bi.next();
    if (x.done) return y.done ? 0 : -1;
    if (y.done) return 1;
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}

const INT_RE = /^[+-]?\d+$/;
const FLOAT_RE = /^[+-]?(?:\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)$/;
const KEY_RE = /^[\w.][\w.-]*$/u;

/**
 * Parses a flag value as Gage does: integers, floats, `true`/`false`/`null`, quoted strings (the
 * quotes removed, nothing unescaped), anything else as a string. As an extension, `[a, b]` is a
 * list of such values.
 */
export function parseFlagValue(text: string): ConfigValue {
  const s = text.trim();
  if (s === "") return "";
  if (INT_RE.test(s)) return Number.parseInt(s, 10);
  if (FLOAT_RE.test(s)) return new PyFloat(Number.parseFloat(s));
  if (isQuoted(s)) return s.slice(1, -1);
  if (s === "true") return true;
  if (s === "false") return false;
  if (s === "null") return null;
  if (s.startsWith("[") && s.endsWith("]")) {
    const inner = s.slice(1, -1).trim();
    return inner === "" ? [] : splitListItems(inner).map(parseFlagValue);
  }
  return s;
}

function isQuoted(s: string): boolean {
  return s.length >= 2 && (s[0] === '"' || s[0] === "'") && s.at(-1) === s[0];
}

function splitListItems(s: string): string[] {
  const items: string[] = [];
  let quote = "";
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (quote) {
      if (ch === quote) quote = "";
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === "[") depth++;
    else if (ch === "]") depth--;
    else if (ch === "," && depth === 0) {
      items.push(s.slice(start, i));
      start = i + 1;
    }
  }
  items.push(s.slice(start));
  return items;
}

/** `NAME=VALUE` (a quoted name allowed), or undefined when the text is not a flag assignment. */
export function parseFlagAssign(text: string): [string, ConfigValue] | undefined {
  const s = text.trim();
  let key: string;
  let rest: string;
  if (s[0] === '"' || s[0] === "'") {
    const end = s.indexOf(s[0], 1);
    if (end < 0) return undefined;
    key = s.slice(1, end);
    rest = s.slice(end + 1).trimStart();
  } else {
    const eq = s.indexOf("=");
    if (eq < 0) return undefined;
    key = s.slice(0, eq).trim();
    rest = s.slice(eq);
    if (!KEY_RE.test(key)) return undefined;
  }
  if (!rest.startsWith("=")) return undefined;
  return [key, parseFlagValue(rest.slice(1))];
}
