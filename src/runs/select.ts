import { UsageError } from "../errors.js";
import { AmbiguousRunError, NothingSelectedError, RunNotFoundError, RunSpecError } from "./errors.js";
import type { Run } from "./run.js";

/**
 * Run specs, resolved against a newest-first list as Gage does:
 *  - an integer from 1 to the list length is an index (`1` is the newest run);
 *  - `a:b` (either side optional) is a 1-based, inclusive slice; negative numbers count from
 *    the end, as Python slices do;
 *  - anything else, including an integer that is no valid index, is a prefix of a run id or name.
 */
export type ParsedSpec =
  | { kind: "index"; index: number }
  | { kind: "slice"; start: number | undefined; end: number | undefined }
  | { kind: "prefix"; prefix: string };

const INT = /^\s*[+-]?\d+\s*$/;
// Anchored at the start only, as Gage's `re.match`.
const SLICE = /^(-?\d+)?:(-?\d+)?/;

export function parseRunSpec(spec: string, count: number): ParsedSpec {
  if (spec.trim() === "") throw new RunSpecError(spec, "Empty run spec");
  if (INT.test(spec)) {
    const index = Number(spec);
    if (index >= 1 && index <= count) return { kind: "index", index };
  }
  const m = SLICE.exec(spec);
  if (m) {
    return {
      kind: "slice",
      start: m[1] === undefined ? undefined : Number(m[1]),
      end: m[2] === undefined ? undefined : Number(m[2]),
    };
  }
  return { kind: "prefix", prefix: spec };
}

/** Python's `list[start:stop]` bounds for a list of `len` items. */
function pySliceBounds(len: number, start: number | undefined, stop: number | undefined): [number, number] {
  const norm = (i: number) => (i < 0 ? Math.max(0, len + i) : Math.min(i, len));
  return [start === undefined ? 0 : norm(start), stop === undefined ? len : norm(stop)];
}

/** The runs one spec selects, in list order (possibly none). */
export function matchRunSpec<R extends Pick<Run, "id" | "name">>(runs: readonly R[], spec: string): R[] {
  const parsed = parseRunSpec(spec, runs.length);
  switch (parsed.kind) {
    case "index":
      return [runs[parsed.index - 1]!];
    case "slice": {
      // Gage's slice start is 1-based (`2:` starts at the second run); 0 and negatives are Python's.
      const start = parsed.start !== undefined && parsed.start > 0 ? parsed.start - 1 : parsed.start;
      const [a, b] = pySliceBounds(runs.length, start, parsed.end);
      return runs.slice(a, Math.max(a, b));
    }
    case "prefix":
      return runs.filter((r) => r.id.startsWith(parsed.prefix) || r.name.startsWith(parsed.prefix));
  }
}

/**
 * The runs that `specs` select, in list order, each once. No specs selects every run.
 * A spec that matches no run throws `RunNotFoundError` (`No runs match 'X'`).
 */
export function selectRuns<R extends Pick<Run, "id" | "name">>(runs: readonly R[], specs: readonly string[]): R[] {
  if (specs.length === 0) return [...runs];
  const selected = new Set<R>();
  for (const spec of specs) {
    const matched = matchRunSpec(runs, spec);
    if (matched.length === 0) throw new RunNotFoundError(spec);
    for (const r of matched) selected.add(r);
  }
  return runs.filter((r) => selected.has(r));
}

/**
 * Exactly one run: `spec` (default `1`, the newest). Throws `NothingSelectedError` when the list
 * is empty, `RunNotFoundError` when nothing matches, and `AmbiguousRunError` listing the matches
 * when a spec matches several runs.
 */
export function selectOneRun<R extends Pick<Run, "id" | "name">>(runs: readonly R[], spec?: string): R {
  if (spec === undefined && runs.length === 0) throw new NothingSelectedError();
  const s = spec ?? "1";
  const matched = matchRunSpec(runs, s);
  if (matched.length === 0) throw new RunNotFoundError(s);
  if (matched.length > 1) throw new AmbiguousRunError(s, matched.map((r) => ({ id: r.id, name: r.name })));
  return matched[0]!;
}

/**
 * A `-w/--where` filter. The expression is one or more terms (quote a term that has spaces);
 * a run must match every term.
 *  - `NAME=VALUE`, `NAME!=VALUE`: equality; `NAME~VALUE`: contains. NAME is `operation` (either
 *    `ns:op` or the op name), `status`, `label`, `id`, `name`, or any user attribute.
 *  - a bare word, as Gage: the op name or `ns:op` equals it, the status equals it, or the label
 *    contains it.
 */
export function parseWhere(expr: string): (run: Run) => boolean {
  const terms = tokenize(expr);
  if (terms.length === 0) throw new UsageError(`Cannot use where expression '${expr}': it is empty`);
  const tests = terms.map(parseTerm);
  return (run) => tests.every((t) => t(run));
}

function tokenize(expr: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|([^\s"']+)/g;
  let cur = "";
  let last = -1;
  for (let m = re.exec(expr); m; m = re.exec(expr)) {
    const piece = m[1] ?? m[2] ?? m[3] ?? "";
    // Adjacent pieces (label="a b") form one term.
    if (last === m.index) cur += piece;
    else {
      if (last >= 0) out.push(cur);
      cur = piece;
    }
    last = re.lastIndex;
  }
  if (last >= 0) out.push(cur);
  return out;
}

function parseTerm(term: string): (run: Run) => boolean {
  const m = /^([A-Za-z_][\w:.-]*)(!=|=|~)(.*)$/s.exec(term);
  if (!m) {
    return (run) =>
      run.opref.name === term || run.operation === term || run.status === term || (run.label ?? "").includes(term);
  }
  const [, name, op, value] = m as unknown as [string, string, "=" | "!=" | "~", string];
  return (run) => {
    const candidates = fieldValues(run, name);
    if (op === "~") return candidates.some((c) => c.includes(value));
    const eq = candidates.some((c) => c === value);
    return op === "=" ? eq : !eq;
  };
}

function fieldValues(run: Run, name: string): string[] {
  switch (name) {
    case "operation":
    case "op":
      return [run.operation, run.opref.name];
    case "status":
      return [run.status];
    case "label":
      return [run.label ?? ""];
    case "id":
      return [run.id];
    case "name":
      return [run.name];
    default: {
      const v = run.attrs[name];
      if (v === undefined) return [];
      return [typeof v === "string" ? v : JSON.stringify(v)];
    }
  }
}
