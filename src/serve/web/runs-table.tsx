import { useEffect, useRef, useState } from "preact/hooks";
import type { RunPage } from "./api.js";
import { dateTime, relativeTime, showValue } from "./format.js";
import { useJson } from "./hooks.js";
import { Status } from "./status.js";

const PAGE = 50;
const BASE_COLUMNS = [
  { key: "index", label: "#" },
  { key: "name", label: "Name" },
  { key: "operation", label: "Operation" },
  { key: "started", label: "Started" },
  { key: "status", label: "Status" },
  { key: "label", label: "Label" },
] as const;

function setQuery(query: URLSearchParams, changes: Record<string, string | undefined>): void {
  const q = new URLSearchParams(query);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === "") q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  location.hash = `#/${s ? `?${s}` : ""}`;
}

function ColumnPicker({ chosen, onChange }: { chosen: string[]; onChange: (cols: string[]) => void }) {
  const [open, setOpen] = useState(false);
  const { data } = useJson<{ flags: string[]; attributes: string[] }>(open ? "api/columns" : null);
  const toggle = (key: string) => onChange(chosen.includes(key) ? chosen.filter((k) => k !== key) : [...chosen, key]);
  const group = (title: string, prefix: string, names: string[]) =>
    names.length > 0 && (
      <fieldset>
        <legend>{title}</legend>
        {names.map((n) => (
          <label key={n} class="check">
            <input type="checkbox" checked={chosen.includes(prefix + n)} onChange={() => toggle(prefix + n)} /> {n}
          </label>
        ))}
      </fieldset>
    );
  return (
    <div class="picker">
      <button type="button" class="ghost" aria-expanded={open} onClick={() => setOpen(!open)}>
        Columns{chosen.length ? ` (+${chosen.length})` : ""}
      </button>
      {open && (
        <div class="picker-menu" role="dialog">
          {!data && <p class="muted">Loading…</p>}
          {data && group("Flags", "flag:", data.flags)}
          {data && group("Attributes", "attr:", data.attributes)}
          {data && data.flags.length + data.attributes.length === 0 && <p class="muted">No flags or attributes in recent runs.</p>}
        </div>
      )}
    </div>
  );
}

/** The runs table of `gage ls`: sort, filter (`--where` syntax), pages, chosen columns, selection. */
export function RunsTable({ query }: { query: URLSearchParams }) {
  const where = query.get("where") ?? "";
  const sort = query.get("sort") ?? "";
  const offset = Number(query.get("offset") ?? 0) || 0;
  const columns = (query.get("columns") ?? localStorage.getItem("gage.columns") ?? "").split(",").filter(Boolean);
  const [draft, setDraft] = useState(where);
  const [selected, setSelected] = useState<string[]>(() => (sessionStorage.getItem("gage.selected") ?? "").split(",").filter(Boolean));
  const [cursor, setCursorState] = useState(0);
  // Keys pressed faster than a render must each see the cursor the one before left.
  const cursorRef = useRef(0);
  const setCursor = (n: number) => {
    cursorRef.current = n;
    setCursorState(n);
  };
  const filterRef = useRef<HTMLInputElement>(null);
  const params = new URLSearchParams({ offset: String(offset), limit: String(PAGE) });
  if (where) params.set("where", where);
  if (sort) params.set("sort", sort);
  if (columns.length) params.set("columns", columns.join(","));
  const { data, error, loading } = useJson<RunPage>(`api/runs?${params}`);
  const runs = data?.runs ?? [];

  useEffect(() => setDraft(where), [where]);
  useEffect(() => sessionStorage.setItem("gage.selected", selected.join(",")), [selected]);
  useEffect(() => setCursor(Math.min(cursorRef.current, Math.max(0, runs.length - 1))), [runs.length]);

  const toggleSel = (id: string) => setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : s.length >= 6 ? s : [...s, id]));
  const compare = () => {
    if (selected.length >= 2) location.hash = `#/compare/${selected.join(",")}`;
  };
  const page = (delta: number) => {
    const next = offset + delta * PAGE;
    if (data && next >= 0 && next < data.total) setQuery(query, { offset: next ? String(next) : undefined });
  };

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || e.metaKey || e.ctrlKey || e.altKey) return;
      const at = cursorRef.current;
      const run = runs[at];
      const keys: Record<string, () => void> = {
        j: () => setCursor(Math.min(at + 1, runs.length - 1)),
        ArrowDown: () => setCursor(Math.min(at + 1, runs.length - 1)),
        k: () => setCursor(Math.max(at - 1, 0)),
        ArrowUp: () => setCursor(Math.max(at - 1, 0)),
        Enter: () => run && (location.hash = `#/runs/${run.id}`),
        o: () => run && (location.hash = `#/runs/${run.id}`),
        x: () => run && toggleSel(run.id),
        " ": () => run && toggleSel(run.id),
        "/": () => filterRef.current?.focus(),
        n: () => page(1),
        ArrowRight: () => page(1),
        p: () => page(-1),
        ArrowLeft: () => page(-1),
        c: compare,
      };
      const act = keys[e.key];
      if (act) {
        e.preventDefault();
        act();
      }
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  });
  useEffect(() => {
    document.querySelector(`tr[data-row="${cursor}"]`)?.scrollIntoView({ block: "nearest" });
  }, [cursor]);

  const sortBy = (key: string) => setQuery(query, { sort: sort === key ? `-${key}` : sort === `-${key}` ? undefined : key, offset: undefined });
  const arrow = (key: string) => (sort === key ? " ▲" : sort === `-${key}` ? " ▼" : "");
  const setColumns = (cols: string[]) => {
    localStorage.setItem("gage.columns", cols.join(","));
    setQuery(query, { columns: cols.join(",") || undefined });
  };

  return (
    <section class="runs">
      <div class="toolbar">
        <form
          class="filter"
          onSubmit={(e) => {
            e.preventDefault();
            setQuery(query, { where: draft.trim() || undefined, offset: undefined });
          }}
        >
          <input
            ref={filterRef}
            type="search"
            aria-label="Filter runs"
            placeholder="Filter: train  status=error  label~best  lr=0.1   (press / to focus)"
            value={draft}
            onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
            onKeyDown={(e) => e.key === "Escape" && (e.target as HTMLInputElement).blur()}
          />
        </form>
        <ColumnPicker chosen={columns} onChange={setColumns} />
        <button type="button" class="primary" disabled={selected.length < 2} onClick={compare} title="Compare the selected runs (c)">
          Compare{selected.length ? ` ${selected.length}` : ""}
        </button>
        {selected.length > 0 && (
          <button type="button" class="ghost" onClick={() => setSelected([])}>
            Clear
          </button>
        )}
      </div>
      {error && <p class="error">{error}</p>}
      <div class="table-wrap">
        <table class={`grid${loading ? " loading" : ""}`}>
          <thead>
            <tr>
              <th class="sel" aria-label="Select" />
              {BASE_COLUMNS.map((c) => (
                <th key={c.key} class={`col-${c.key}`} aria-sort={sort === c.key ? "ascending" : sort === `-${c.key}` ? "descending" : "none"}>
                  <button type="button" onClick={() => sortBy(c.key)}>
                    {c.label}
                    {arrow(c.key)}
                  </button>
                </th>
              ))}
              {columns.map((c) => (
                <th key={c} class="col-extra">
                  <button type="button" onClick={() => sortBy(c)} title={c}>
                    {c.slice(5)}
                    {arrow(c)}
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {runs.map((r, i) => (
              <tr key={r.id} data-row={i} class={`${i === cursor ? "cursor" : ""}${selected.includes(r.id) ? " selected" : ""}`} onClick={() => setCursor(i)}>
                <td class="sel">
                  <input type="checkbox" aria-label={`Select ${r.name}`} checked={selected.includes(r.id)} onChange={() => toggleSel(r.id)} />
                </td>
                <td class="num">{r.index}</td>
                <td class="mono">
                  <a href={`#/runs/${r.id}`} title={r.id}>
                    {r.name.slice(0, 5)}
                  </a>
                </td>
                <td class="op">{r.operation}</td>
                <td title={dateTime(r.started)}>{relativeTime(r.started)}</td>
                <td>
                  <Status status={r.status} />
                </td>
                <td class="label">{r.label}</td>
                {columns.map((c) => (
                  <td key={c} class="mono">
                    {showValue(r.columns?.[c])}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
        {data && runs.length === 0 && <p class="empty">{where ? "No runs match this filter." : "No runs here yet."}</p>}
      </div>
      {data && (
        <div class="pager">
          <span class="muted">
            {data.total === 0 ? "0 runs" : `${offset + 1}–${offset + runs.length} of ${data.total} runs`}
          </span>
          <button type="button" class="ghost" disabled={offset === 0} onClick={() => page(-1)}>
            ← Newer
          </button>
          <button type="button" class="ghost" disabled={offset + PAGE >= data.total} onClick={() => page(1)}>
            Older →
          </button>
          <span class="keys muted">
            <kbd>j</kbd>/<kbd>k</kbd> move · <kbd>Enter</kbd> open · <kbd>x</kbd> select · <kbd>c</kbd> compare · <kbd>/</kbd> filter
          </span>
        </div>
      )}
    </section>
  );
}
