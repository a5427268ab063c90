import { useState } from "preact/hooks";
import { postJson, type FileInfo, type RunDetail, type Session } from "./api.js";
import { dateTime, duration, relativeTime } from "./format.js";
import { FileTree } from "./files.js";
import { useJson } from "./hooks.js";
import { KeyValues } from "./kv.js";
import { OutputView } from "./output.js";
import { FilePreview } from "./preview.js";
import { Status } from "./status.js";

function Comments({ run, session, onAdded }: { run: RunDetail; session: Session; onAdded: () => void }) {
  const [msg, setMsg] = useState("");
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      await postJson(`api/runs/${encodeURIComponent(run.id)}/comments`, { msg });
      setMsg("");
      setError(undefined);
      onAdded();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="comments">
      {run.comments.length === 0 && <p class="muted">No comments yet.</p>}
      {run.comments.map((c) => (
        <article key={c.id} class="comment">
          <header>
            <strong>{c.author ?? "unknown"}</strong> <span class="muted" title={dateTime(c.time)}>{relativeTime(c.time)}</span>
          </header>
          <p>{c.msg}</p>
        </article>
      ))}
      {session.access === "write" && (
        <form class="comment-form" onSubmit={submit}>
          <textarea
            aria-label="Comment"
            placeholder={`Comment as ${session.author}…`}
            value={msg}
            rows={3}
            onInput={(e) => setMsg((e.target as HTMLTextAreaElement).value)}
            onKeyDown={(e) => (e.ctrlKey || e.metaKey) && e.key === "Enter" && submit(e)}
          />
          <div class="row">
            <button type="submit" class="primary" disabled={busy || !msg.trim()}>
              Add comment
            </button>
            {error && <span class="error">{error}</span>}
          </div>
        </form>
      )}
    </div>
  );
}

function LabelEditor({ run, session, onSaved }: { run: RunDetail; session: Session; onSaved: () => void }) {
  const [editing, setEditing] = useState(false);
  const [value, setValue] = useState(run.label ?? "");
  const [error, setError] = useState<string | undefined>();
  if (!editing) {
    return (
      <span class="label-line">
        {run.label ? <span class="label-text">{run.label}</span> : <span class="muted">No label</span>}
        {session.access === "write" && (
          <button type="button" class="link" onClick={() => (setValue(run.label ?? ""), setEditing(true))}>
            {run.label ? "Edit" : "Add label"}
          </button>
        )}
      </span>
    );
  }
  const save = async (e: Event) => {
    e.preventDefault();
    try {
      await postJson(`api/runs/${encodeURIComponent(run.id)}/label`, { label: value.trim() || null });
      setEditing(false);
      onSaved();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <form class="label-form" onSubmit={save}>
      <input aria-label="Label" value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} autoFocus />
      <button type="submit" class="primary">
        Save
      </button>
      <button type="button" class="ghost" onClick={() => setEditing(false)}>
        Cancel
      </button>
      {error && <span class="error">{error}</span>}
    </form>
  );
}

function Metadata({ meta }: { meta: RunDetail["meta"] }) {
  const cmd = Array.isArray(meta.command) ? meta.command.map(String).join(" ") : meta.command ? JSON.stringify(meta.command) : "";
  return (
    <div class="meta">
      {cmd && (
        <>
          <h3>Command</h3>
          <pre class="code">{cmd}</pre>
        </>
      )}
      <h3>Platform</h3>
      <KeyValues data={(meta.platform ?? {}) as Record<string, unknown>} empty="Not recorded." />
      <details>
        <summary>Environment</summary>
        <KeyValues data={(meta.env ?? {}) as Record<string, unknown>} empty="Not recorded." />
      </details>
    </div>
  );
}

/** One run: status, times, label, flags, attributes, comments, output, files and metadata. */
export function RunPage({ id, session, file }: { id: string; session: Session; file: string | null }) {
  const [version, setVersion] = useState(0);
  const { data: run, error } = useJson<RunDetail>(`api/runs/${encodeURIComponent(id)}`, version);
  const reload = () => setVersion((v) => v + 1);
  if (error) return <p class="error">{error}</p>;
  if (!run) return <p class="muted">Loading…</p>;
  const chosen: FileInfo | undefined = run.files.find((f) => f.path === file) ?? undefined;
  const choose = (f: FileInfo) => (location.hash = `#/runs/${run.id}?file=${encodeURIComponent(f.path)}`);
  return (
    <article class="run">
      <header class="run-head">
        <div>
          <h1>
            <span class="mono">{run.name}</span> <span class="op">{run.operation}</span>
          </h1>
          <LabelEditor run={run} session={session} onSaved={reload} />
          {run.tags.length > 0 && (
            <span class="tags">
              {run.tags.map((t) => (
                <span key={t} class="tag">
                  {t}
                </span>
              ))}
            </span>
          )}
        </div>
        <Status status={run.status} />
      </header>
      <dl class="facts">
        <div>
          <dt>Started</dt>
          <dd title={run.started ?? ""}>{dateTime(run.started) || "—"}</dd>
        </div>
        <div>
          <dt>Stopped</dt>
          <dd>{dateTime(run.stopped) || "—"}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>{duration(run.duration) || "—"}</dd>
        </div>
        <div>
          <dt>Exit</dt>
          <dd>{run.exitCode ?? "—"}</dd>
        </div>
        <div>
          <dt>ID</dt>
          <dd class="mono small">{run.id}</dd>
        </div>
      </dl>
      <div class="run-body">
        <div class="run-main">
          <section>
            <h2>Files</h2>
            <div class="files">
              <nav class="file-nav">
                <FileTree files={run.files} chosen={chosen?.path} onChoose={choose} />
                {run.filesTruncated && <p class="muted">Only the first {run.files.length} files are listed.</p>}
              </nav>
              <div class="file-view">{chosen ? <FilePreview runId={run.id} path={chosen.path} size={chosen.size} /> : <p class="muted">Choose a file to preview it.</p>}</div>
            </div>
          </section>
          <section>
            <h2>Output</h2>
            <OutputView runId={run.id} size={run.output.size} />
          </section>
        </div>
        <aside class="run-side">
          <section>
            <h2>Flags</h2>
            <KeyValues data={run.flags} empty="No flags." />
          </section>
          <section>
            <h2>Attributes</h2>
            <KeyValues data={run.attributes} empty="No attributes." />
          </section>
          <section>
            <h2>Comments</h2>
            <Comments run={run} session={session} onAdded={reload} />
          </section>
          <section>
            <h2>Metadata</h2>
            <Metadata meta={run.meta} />
          </section>
        </aside>
      </div>
    </article>
  );
}
