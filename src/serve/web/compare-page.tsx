import { useEffect, useState } from "preact/hooks";
import { getJson, type RunDetail } from "./api.js";
import { duration, ext, IMAGE_EXT, relativeTime, showValue } from "./format.js";
import { FilePreview } from "./preview.js";
import { Status } from "./status.js";

type Row = { section: string; key: string; values: string[] };

function rowsOf(runs: RunDetail[]): Row[] {
  const rows: Row[] = [];
  const add = (section: string, key: string, get: (r: RunDetail) => unknown) => rows.push({ section, key, values: runs.map((r) => showValue(get(r))) });
  add("Run", "operation", (r) => r.operation);
  add("Run", "status", (r) => r.status);
  add("Run", "label", (r) => r.label);
  add("Run", "started", (r) => relativeTime(r.started));
  add("Run", "duration", (r) => duration(r.duration));
  for (const [section, pick] of [
    ["Flags", (r: RunDetail) => r.flags],
    ["Attributes", (r: RunDetail) => r.attributes],
  ] as const) {
    const keys = new Set(runs.flatMap((r) => Object.keys(pick(r))));
    for (const k of [...keys].sort()) add(section, k, (r) => pick(r)[k]);
  }
  return rows;
}

/** 2 to 6 runs side by side: flags and attributes with differences marked, shared files next to each other. */
export function ComparePage({ ids }: { ids: string[] }) {
  const [runs, setRuns] = useState<RunDetail[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [onlyDiff, setOnlyDiff] = useState(false);
  const [open, setOpen] = useState<string[] | undefined>();
  useEffect(() => {
    Promise.all(ids.map((id) => getJson<RunDetail>(`api/runs/${encodeURIComponent(id)}`))).then(setRuns, (err: Error) => setError(err.message));
  }, [ids.join(",")]);
  if (ids.length < 2 || ids.length > 6) return <p class="error">Choose 2 to 6 runs to compare.</p>;
  if (error) return <p class="error">{error}</p>;
  if (!runs) return <p class="muted">Loading…</p>;
  const rows = rowsOf(runs);
  const differs = (r: Row) => r.values.some((v) => v !== r.values[0]);
  const shown = onlyDiff ? rows.filter(differs) : rows;
  const counts = new Map<string, number>();
  for (const r of runs) for (const f of r.files) counts.set(f.path, (counts.get(f.path) ?? 0) + 1);
  const shared = [...counts].filter(([, n]) => n > 1).map(([p]) => p).sort();
  const opened = open ?? shared.filter((p) => IMAGE_EXT.has(ext(p))).slice(0, 4);
  const toggle = (p: string) => setOpen(opened.includes(p) ? opened.filter((x) => x !== p) : [...opened, p]);
  const cols = { gridTemplateColumns: `repeat(${runs.length}, minmax(0, 1fr))` };
  let lastSection = "";
  return (
    <article class="compare">
      <header class="run-head">
        <h1>Compare {runs.length} runs</h1>
        <label class="check">
          <input type="checkbox" checked={onlyDiff} onChange={() => setOnlyDiff(!onlyDiff)} /> Only differences
        </label>
      </header>
      <div class="table-wrap">
        <table class="grid compare-table">
          <thead>
            <tr>
              <th />
              {runs.map((r) => (
                <th key={r.id}>
                  <a class="mono" href={`#/runs/${r.id}`}>
                    {r.name}
                  </a>{" "}
                  <Status status={r.status} />
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {shown.map((row) => {
              const head =
                row.section !== lastSection ? (
                  <tr class="section" key={`s-${row.section}`}>
                    <th colSpan={runs.length + 1}>{row.section}</th>
                  </tr>
                ) : null;
              lastSection = row.section;
              return [
                head,
                <tr key={`${row.section}-${row.key}`} class={differs(row) ? "diff" : ""}>
                  <th class="mono">{row.key}</th>
                  {row.values.map((v, i) => (
                    <td key={i} class="mono">
                      {v}
                    </td>
                  ))}
                </tr>,
              ];
            })}
          </tbody>
        </table>
      </div>
      <section>
        <h2>Shared files</h2>
        {shared.length === 0 && <p class="muted">These runs have no file in common.</p>}
        <ul class="shared">
          {shared.map((p) => (
            <li key={p}>
              <button type="button" class="file" aria-expanded={opened.includes(p)} onClick={() => toggle(p)}>
                {opened.includes(p) ? "▾" : "▸"} <span class="mono">{p}</span>
              </button>
              {opened.includes(p) && (
                <div class="side-by-side" style={cols}>
                  {runs.map((r) => {
                    const f = r.files.find((x) => x.path === p);
                    return <div key={r.id}>{f ? <FilePreview runId={r.id} path={p} size={f.size} /> : <p class="muted">Not in {r.name}.</p>}</div>;
                  })}
                </div>
              )}
            </li>
          ))}
        </ul>
      </section>
    </article>
  );
}
