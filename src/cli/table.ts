import pc from "picocolors";
import stringWidth from "string-width";
import { printable } from "./printable.js";
import type { OutputStyle } from "./terminal.js";

/**
 * Tables laid out as Python Gage's rich tables are: the same column widths, so that on a plain
 * terminal (`TERM=unknown`, `COLUMNS=60`) the output matches Gage character for character.
 * Plain tables use rich's MARKDOWN box, whose top and bottom edges are lines of spaces; a TTY gets
 * rounded Unicode boxes and colors. Cells never wrap: text too wide for its column ends in `…`.
 * Widths are display widths (a wide CJK character takes two columns). Cells are printed through
 * `printable`: a label from a remote cannot put control characters on the terminal.
 */
export interface TableColumn {
  header: string;
  justify?: "left" | "right";
  /** Takes a share of the width left over when the table expands (rich's `ratio`). */
  ratio?: number;
  /** Color for a cell's text on a color terminal; gets the cell's raw value. */
  color?: (text: string, value: string) => string;
  /**
   * Never narrowed when the table is too wide: short fixed-size cells (indexes, names, sizes)
   * stay readable and the free-text columns give up the width. Gage's own tables have none.
   */
  keepWidth?: boolean;
}

export interface TableOptions {
  /** Fill the whole width (rich's `expand=True`). */
  expand?: boolean;
  /** A line under the table, indented by one space (as Gage's list caption). */
  caption?: string;
  /** Draw the outer edge: the left and right borders and the top and bottom lines (default true). */
  edge?: boolean;
  /** Spaces each side of a cell: 1 (default) or 0 (rich's `padding=0`, as in `gage show`'s Files panel). */
  padding?: 0 | 1;
  /** A footer row under a separator line (rich's `show_footer`). */
  footer?: readonly string[];
  /** On a TTY, rich's SIMPLE box (rules under the header and above the footer, no borders) instead of rounded boxes. */
  simpleBox?: boolean;
}

/**
 * ANSI colors that always apply: callers use them only where `OutputStyle.color` says so, which
 * already weighs the stream's TTY and `NO_COLOR`.
 */
export const colors = pc.createColors(true);

/** Renders a table to text lines ending with a newline. `rows` hold plain strings. */
export function renderTable(
  columns: readonly TableColumn[],
  rows: readonly (readonly string[])[],
  style: OutputStyle,
  opts: TableOptions = {},
): string {
  return [...tableLines(columns, rows, style, opts)].join("\n") + "\n";
}

/**
 * `renderTable`'s lines one at a time (no newlines), for a caller that writes a long table in
 * pieces rather than holding it whole.
 */
export function* tableLines(
  columns: readonly TableColumn[],
  rows: readonly (readonly string[])[],
  style: OutputStyle,
  opts: TableOptions = {},
): Generator<string> {
  const showEdge = opts.edge ?? true;
  const pad = opts.padding ?? 1;
  // Cells are made printable as they are measured and drawn, not copied first.
  const safeRows = function* () {
    for (const r of rows) yield r.map(printable);
  };
  const footer = opts.footer?.map(printable);
  const measured = function* () {
    yield* safeRows();
    if (footer) yield footer;
  };
  const widths = columnWidths(
    columns,
    measured(),
    style.width - (columns.length - 1) - (showEdge ? 2 : 0),
    opts.expand ?? false,
    pad * 2,
  );
  const box = style.plain ? MARKDOWN_BOX : opts.simpleBox ? SIMPLE_BOX : ROUNDED_BOX;
  const border = (s: string) => (style.color ? colors.dim(s) : s);
  const side = (c: string) => (showEdge ? border(c) : "");
  const edge = (chars: BoxLine) =>
    side(chars.left) + border(widths.map((w) => chars.fill.repeat(w)).join(chars.cross)) + side(chars.right);
  const space = " ".repeat(pad);
  const row = (cells: readonly string[], colorCell: (i: number, text: string, value: string) => string) =>
    side(box.row.left) +
    cells
      .map((value, i) => {
        const w = widths[i]!;
        // A column squeezed below its padding shows blanks, as rich does.
        if (w < pad * 2) return " ".repeat(w);
        const text = fit(value, w - pad * 2, columns[i]!.justify ?? "left");
        return space + colorCell(i, text, value) + space;
      })
      .join(border(box.row.cross)) +
    side(box.row.right);
  const plainCell = (i: number, text: string, value: string) => {
    const color = columns[i]!.color;
    return style.color && color ? color(text, value) : text;
  };

  if (showEdge) yield edge(box.top);
  yield row(columns.map((c) => printable(c.header)), (_i, text) => (style.color ? colors.yellow(colors.bold(text)) : text));
  yield edge(box.headSep);
  for (const r of safeRows()) yield row(r, plainCell);
  if (footer) {
    yield edge(box.headSep);
    yield row(footer, plainCell);
  }
  if (showEdge) yield edge(box.bottom);
  if (opts.caption !== undefined) {
    // rich pads (or crops) the caption to the table's width, inside one space each side.
    const text = fit(printable(opts.caption), sum(widths) + widths.length - 1, "left", "");
    yield " " + (style.color ? colors.dim(colors.italic(text)) : text) + " ";
  }
}

interface BoxLine {
  left: string;
  fill: string;
  cross: string;
  right: string;
}

const line = (s: string): BoxLine => ({ left: s[0]!, fill: s[1]!, cross: s[2]!, right: s[3]! });

const MARKDOWN_BOX = { top: line("    "), row: line("| ||"), headSep: line("|-||"), bottom: line("    ") };
const SIMPLE_BOX = { top: line("    "), row: line("    "), headSep: line(" ── "), bottom: line("    ") };
const ROUNDED_BOX = { top: line("╭─┬╮"), row: line("│ ││"), headSep: line("├─┼┤"), bottom: line("╰─┴╯") };

/** A cell's display width; printable ASCII without segmenting. */
function cellWidth(s: string): number {
  return PRINTABLE_ASCII.test(s) ? s.length : stringWidth(s);
}

/** Display width of a string (wide characters count two). */
export function displayWidth(s: string): number {
  return stringWidth(s);
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

// Made when a cell is first cut: creating one loads ICU data, which most commands never need.
let segmenter: Intl.Segmenter | undefined;

/** `s` cut or padded to exactly `width` columns; a cut ends in `ellipsis`. */
export function fit(s: string, width: number, justify: "left" | "right" = "left", ellipsis = "…"): string {
  if (width <= 0) return "";
  // Printable ASCII is one column a character: cut without segmenting (a 100,000-row listing cuts most labels).
  const ascii = PRINTABLE_ASCII.test(s);
  let w = ascii ? s.length : stringWidth(s);
  let out = s;
  if (w > width && ascii) {
    const room = Math.max(0, width - ellipsis.length);
    out = s.slice(0, room) + " ".repeat(width - ellipsis.length - room) + ellipsis;
    w = width;
  } else if (w > width) {
    const room = width - ellipsis.length;
    out = "";
    w = 0;
    for (const { segment } of (segmenter ??= new Intl.Segmenter()).segment(s)) {
      const sw = stringWidth(segment);
      if (w + sw > room) break;
      out += segment;
      w += sw;
    }
    out += " ".repeat(room - w) + ellipsis;
    w = width;
  }
  const pad = " ".repeat(width - w);
  return justify === "right" ? pad + out : out + pad;
}

/** Column widths including padding, as rich's `Table._calculate_column_widths` (no-wrap columns). */
function columnWidths(
  columns: readonly TableColumn[],
  rows: Iterable<readonly string[]>,
  maxWidth: number,
  expand: boolean,
  padding: number,
): number[] {
  const measured = columns.map((c) => stringWidth(c.header));
  for (const r of rows) measured.forEach((w, i) => (measured[i] = Math.max(w, cellWidth(r[i] ?? ""))));
  measured.forEach((w, i) => (measured[i] = w + padding));
  let widths = measured.map((w) => Math.min(w, Math.max(maxWidth, 1)) || 1);
  const ratios = columns.map((c) => c.ratio ?? 0);
  if (expand && ratios.some((r) => r > 0)) {
    const fixed = widths.map((w, i) => (ratios[i]! > 0 ? 0 : w));
    const flexIdx = columns.map((_, i) => i).filter((i) => ratios[i]! > 0);
    const flex = ratioDistribute(
      maxWidth - sum(fixed),
      flexIdx.map((i) => ratios[i]!),
      flexIdx.map(() => 1 + padding),
    );
    flexIdx.forEach((col, k) => (widths[col] = flex[k]!));
  }
  let tableWidth = sum(widths);
  if (tableWidth > maxWidth) {
    const shrinkable = columns.map((c) => (c.keepWidth ? 0 : 1));
    widths = ratioReduce(tableWidth - maxWidth, shrinkable, widths, widths);
    widths = widths.map((w, i) => Math.max(0, Math.min(w, measured[i]!)));
    tableWidth = sum(widths);
  }
  if (tableWidth < maxWidth && expand) {
    const pads = ratioDistribute(maxWidth - tableWidth, widths);
    widths = widths.map((w, i) => w + pads[i]!);
  }
  return widths;
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** rich's `ratio_distribute`. */
function ratioDistribute(total: number, ratios: readonly number[], minimums?: readonly number[]): number[] {
  const rs = minimums ? ratios.map((r, i) => (minimums[i] ? r : 0)) : [...ratios];
  let totalRatio = sum(rs);
  if (totalRatio <= 0) return rs.map(() => 0);
  let remaining = total;
  return rs.map((ratio, i) => {
    const distributed = totalRatio > 0 ? Math.max(minimums?.[i] ?? 0, Math.ceil((ratio * remaining) / totalRatio)) : remaining;
    totalRatio -= ratio;
    remaining -= distributed;
    return distributed;
  });
}

/** rich's `ratio_reduce`. */
function ratioReduce(total: number, ratios: readonly number[], maximums: readonly number[], values: readonly number[]): number[] {
  const rs = ratios.map((r, i) => (maximums[i] ? r : 0));
  let totalRatio = sum(rs);
  if (!totalRatio) return [...values];
  let remaining = total;
  return rs.map((ratio, i) => {
    if (ratio && totalRatio > 0) {
      const distributed = Math.min(maximums[i]!, pyRound((ratio * remaining) / totalRatio));
      remaining -= distributed;
      totalRatio -= ratio;
      return values[i]! - distributed;
    }
    return values[i]!;
  });
}

/** Python's `round`: halves go to the even neighbour. */
function pyRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
