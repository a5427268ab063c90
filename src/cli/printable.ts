/**
 * Text from runs and remotes (names, labels, paths, comments, run output) made safe to print: a
 * label holding `\x1b[31m`, `\r` or NUL would otherwise recolor, overwrite or hide what the
 * terminal shows. Every renderer (tables, panels, messages, warnings) passes such text through
 * here, so the rule lives in one place.
 *
 * Escaped: C0 controls and DEL (`\t`, `\n`, `\r` by name, the rest as `\xHH`), C1 controls, and
 * the invisible characters that reorder or hide text (bidirectional overrides and isolates, line
 * and paragraph separators, zero-width no-break space) as `\u{HHHH}`. Everything else, non-ASCII
 * letters included, prints as it is.
 */
export function printable(text: string): string {
  return UNSAFE.test(text) ? text.replace(UNSAFE_ALL, escapeChar) : text;
}

/** Multi-line text (a message with a hint, a comment): each line made {@link printable}, the line breaks kept. */
export function printableLines(text: string): string {
  return UNSAFE.test(text) ? text.split("\n").map(printable).join("\n") : text;
}

const UNSAFE_CLASS = "[\\x00-\\x1f\\x7f-\\x9f\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069\\ufeff]";
const UNSAFE = new RegExp(UNSAFE_CLASS);
const UNSAFE_ALL = new RegExp(UNSAFE_CLASS, "g");

const NAMED: Record<string, string> = { "\t": "\\t", "\n": "\\n", "\r": "\\r" };

function escapeChar(ch: string): string {
  const named = NAMED[ch];
  if (named !== undefined) return named;
  const code = ch.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
}
