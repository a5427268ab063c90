/**
 * JSON encoded as Python's `json.dumps(value)` with its defaults: `", "` and `": "` separators,
 * `ensure_ascii` (every character outside space..`~` escaped as `\uXXXX`, lowercase hex, astral
 * characters as surrogate pairs). Gage writes user log entries this way; matching it byte for
 * byte keeps files written here indistinguishable from Gage's.
 */
export function pythonJsonDumps(value: unknown): string {
  if (value === null || value === undefined) return "null";
  switch (typeof value) {
    case "string":
      return encodeString(value);
    case "number":
      if (Number.isNaN(value)) return "NaN";
      if (!Number.isFinite(value)) return value > 0 ? "Infinity" : "-Infinity";
      return String(value);
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      return value.toString();
    case "object":
      if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(", ")}]`;
      return `{${Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${encodeString(k)}: ${pythonJsonDumps(v)}`)
        .join(", ")}}`;
    default:
      throw new TypeError(`cannot encode a ${typeof value} as JSON`);
  }
}

const SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  "\\": "\\\\",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\b": "\\b",
  "\f": "\\f",
};

function encodeString(s: string): string {
  // JS strings are UTF-16, so iterating code units yields surrogate pairs exactly as Python writes them.
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    const code = s.charCodeAt(i);
    const short = SHORT_ESCAPES[ch];
    if (short !== undefined) out += short;
    else if (code >= 0x20 && code <= 0x7e) out += ch;
    else out += "\\u" + code.toString(16).padStart(4, "0");
  }
  return out + '"';
}
