type Opcode = ["equal" | "replace" | "delete" | "insert", number, number, number, number];

/**
 * `difflib.unified_diff(a, b, path, path)` as Python writes it (`log/patched`): lines keep their
 * endings, 3 lines of context, the same matching (longest common block first, without the
 * "autojunk" heuristic, which only matters for files of 200 lines or more).
 */
export function unifiedDiff(a: string[], b: string[], path: string, context = 3): string[] {
  const out: string[] = [];
  for (const group of groupedOpcodes(opcodes(a, b), context)) {
    if (out.length === 0) out.push(`--- ${path}\n`, `+++ ${path}\n`);
    const first = group[0]!;
    const last = group.at(-1)!;
    out.push(`@@ -${formatRange(first[1], last[2])} +${formatRange(first[3], last[4])} @@\n`);
    for (const [tag, i1, i2, j1, j2] of group) {
      if (tag === "equal") {
        for (const line of a.slice(i1, i2)) out.push(" " + line);
        continue;
      }
      if (tag === "replace" || tag === "delete") for (const line of a.slice(i1, i2)) out.push("-" + line);
      if (tag === "replace" || tag === "insert") for (const line of b.slice(j1, j2)) out.push("+" + line);
    }
  }
  return out;
}

function formatRange(start: number, stop: number): string {
  const length = stop - start;
  if (length === 1) return String(start + 1);
  return `${length === 0 ? start : start + 1},${length}`;
}

/** Splits text into lines that keep their `\n`, as Python's `splitlines(keepends=True)` for `\n` files. */
export function splitLinesKeepEnds(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

function matchingBlocks(a: string[], b: string[]): Array<[number, number, number]> {
  const b2j = new Map<string, number[]>();
  b.forEach((line, j) => {
    const list = b2j.get(line);
    if (list) list.push(j);
    else b2j.set(line, [j]);
  });
  const longest = (alo: number, ahi: number, blo: number, bhi: number): [number, number, number] => {
    let [besti, bestj, bestsize] = [alo, blo, 0];
    let j2len = new Map<number, number>();
    for (let i = alo; i < ahi; i++) {
      const next = new Map<number, number>();
      for (const j of b2j.get(a[i]!) ?? []) {
        if (j < blo) continue;
        if (j >= bhi) break;
        const k = (j2len.get(j - 1) ?? 0) + 1;
        next.set(j, k);
        if (k > bestsize) [besti, bestj, bestsize] = [i - k + 1, j - k + 1, k];
      }
      j2len = next;
    }
    return [besti, bestj, bestsize];
  };
  const blocks: Array<[number, number, number]> = [];
  const queue: Array<[number, number, number, number]> = [[0, a.length, 0, b.length]];
  while (queue.length) {
    const [alo, ahi, blo, bhi] = queue.pop()!;
    const [i, j, k] = longest(alo, ahi, blo, bhi);
    if (k === 0) continue;
    blocks.push([i, j, k]);
    if (alo < i && blo < j) queue.push([alo, i, blo, j]);
    if (i + k < ahi && j + k < bhi) queue.push([i + k, ahi, j + k, bhi]);
  }
  blocks.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const merged: Array<[number, number, number]> = [];
  for (const block of blocks) {
    const prev = merged.at(-1);
    if (prev && prev[0] + prev[2] === block[0] && prev[1] + prev[2] === block[1]) prev[2] += block[2];
    else merged.push([...block]);
  }
  merged.push([a.length, b.length, 0]);
  return merged;
}

function opcodes(a: string[], b: string[]): Opcode[] {
  const codes: Opcode[] = [];
  let i = 0;
  let j = 0;
  for (const [ai, bj, size] of matchingBlocks(a, b)) {
    const tag = i < ai && j < bj ? "replace" : i < ai ? "delete" : j < bj ? "insert" : undefined;
    if (tag) codes.push([tag, i, ai, j, bj]);
    if (size) codes.push(["equal", ai, ai + size, bj, bj + size]);
    [i, j] = [ai + size, bj + size];
  }
  return codes;
}

function groupedOpcodes(codes: Opcode[], n: number): Opcode[][] {
  if (codes.length === 0) codes = [["equal", 0, 1, 0, 1]];
  codes = codes.map((c) => [...c] as Opcode);
  const first = codes[0]!;
  if (first[0] === "equal") {
    first[1] = Math.max(first[1], first[2] - n);
    first[3] = Math.max(first[3], first[4] - n);
  }
  const last = codes.at(-1)!;
  if (last[0] === "equal") {
    last[2] = Math.min(last[2], last[1] + n);
    last[4] = Math.min(last[4], last[3] + n);
  }
  const groups: Opcode[][] = [];
  let group: Opcode[] = [];
  for (const [tag, i1, i2, j1, j2] of codes) {
    let [a1, b1] = [i1, j1];
    if (tag === "equal" && i2 - i1 > 2 * n) {
      group.push([tag, i1, Math.min(i2, i1 + n), j1, Math.min(j2, j1 + n)]);
      groups.push(group);
      group = [];
      [a1, b1] = [Math.max(i1, i2 - n), Math.max(j1, j2 - n)];
    }
    group.push([tag, a1, i2, b1, j2]);
  }
  if (group.length && !(group.length === 1 && group[0]![0] === "equal")) groups.push(group);
  return groups;
}
