import stringWidth from "string-width";
import { printable } from "./printable.js";
import { colors, fit } from "./table.js";
import type { OutputStyle } from "./terminal.js";

/**
 * rich's `Panel` as Gage draws it in `show` and `comment --list`: a title centred in the top edge,
 * then the body inside one space each side. On a plain terminal (`TERM=unknown`, not a TTY) the
 * box is rich's MARKDOWN box (spaces on top and bottom, `|` on the sides), so that the output
 * matches Python Gage's byte for byte; a TTY gets rounded corners and colors.
 *
 * Body lines are plain text no wider than {@link panelInnerWidth}; they are padded here.
 */
export function renderPanel(title: string | undefined, body: readonly string[], style: OutputStyle): string {
  const width = Math.max(style.width, 5);
  const inner = width - 4;
  const rounded = !style.plain;
  const border = (s: string) => (style.color ? colors.dim(s) : s);
  const fill = rounded ? "─" : " ";
  const lines: string[] = [];
  if (title === undefined) lines.push(border((rounded ? "╭" : " ") + fill.repeat(width - 2) + (rounded ? "╮" : " ")));
  else {
    // rich pads the title with a space each side and centres it (cropped when too long).
    const padded = ` ${printable(title)} `;
    const used = stringWidth(padded) > inner ? fit(padded, inner, "left", "") : padded;
    const excess = inner - stringWidth(used);
    const left = Math.floor(excess / 2);
    lines.push(
      border((rounded ? "╭" : " ") + fill.repeat(1 + left)) +
        (style.color ? colors.yellow(used) : used) +
        border(fill.repeat(excess - left + 1) + (rounded ? "╮" : " ")),
    );
  }
  const side = border(rounded ? "│" : "|");
  for (const line of body) lines.push(`${side} ${padTo(line, inner)} ${side}`);
  lines.push(border((rounded ? "╰" : " ") + fill.repeat(width - 2) + (rounded ? "╯" : " ")));
  return lines.join("\n") + "\n";
}

/** The width a panel gives its body on this terminal. */
export function panelInnerWidth(style: OutputStyle): number {
  return Math.max(style.width, 5) - 4;
}

/** `text` padded with spaces to `width` display columns (cut with `…` when wider). */
export function padTo(text: string, width: number): string {
  const w = stringWidth(text);
  return w === width ? text : w < width ? text + " ".repeat(width - w) : fit(text, width);
}

/**
 * A two-column grid as rich's `Table.grid(padding=(0, 1))`: names, two spaces, values. A value
 * too long for the width wraps under itself. Cells are made printable here.
 */
export function gridLines(rows: ReadonlyArray<readonly [string, string]>, width: number, style: OutputStyle): string[] {
  const names = rows.map(([k]) => printable(k));
  const nameWidth = Math.min(Math.max(0, ...names.map((k) => stringWidth(k))), Math.max(1, Math.floor(width / 2)));
  const valueWidth = Math.max(1, width - nameWidth - 2);
  const out: string[] = [];
  rows.forEach(([, value], i) => {
    const name = fit(names[i]!, nameWidth);
    wrapText(printable(value), valueWidth).forEach((part, j) => {
      const label = j === 0 ? name : " ".repeat(nameWidth);
      out.push(`${style.color ? colors.cyan(label) : label}  ${style.color ? colors.dim(part) : part}`);
    });
  });
  return out;
}

/** rich's expanding two-column grid: `left` at the start, `right` justified to the end. */
export function spreadLine(left: string, right: string, width: number): string {
  const r = printable(right);
  const room = width - stringWidth(r) - 2;
  const l = room > 0 ? fit(printable(left), Math.min(room, stringWidth(printable(left)))) : "";
  return l + " ".repeat(Math.max(1, width - stringWidth(l) - stringWidth(r))) + r;
}

/**
 * Text wrapped to `width` display columns: at spaces where it can, else folded mid-word, as rich
 * wraps a cell. Tabs become spaces to the next multiple of eight first; the text must already be
 * printable (no other control characters).
 */
export function wrapText(text: string, width: number): string[] {
  const expanded = text.includes("\t") ? expandTabs(text) : text;
  if (stringWidth(expanded) <= width) return [expanded];
  const lines: string[] = [];
  let line = "";
  let lineWidth = 0;
  for (const word of expanded.split(/(?<= )/)) {
    const w = stringWidth(word);
    if (lineWidth + w - (word.endsWith(" ") ? 1 : 0) <= width) {
      line += word;
      lineWidth += w;
      continue;
    }
    if (line !== "") lines.push(line.trimEnd());
    line = "";
    lineWidth = 0;
    for (const ch of word) {
      const cw = stringWidth(ch);
      if (lineWidth + cw > width && !(ch === " " && lineWidth === width)) {
        lines.push(line);
        line = "";
        lineWidth = 0;
      }
      line += ch;
      lineWidth += cw;
    }
  }
  if (line.trimEnd() !== "" || lines.length === 0) lines.push(line.trimEnd());
  return lines;
}

function expandTabs(text: string): string {
  let out = "";
  let col = 0;
  for (const ch of text) {
    if (ch === "\t") {
      const n = 8 - (col % 8);
      out += " ".repeat(n);
      col += n;
    } else {
      out += ch;
      col += stringWidth(ch);
    }
  }
  return out;
}
