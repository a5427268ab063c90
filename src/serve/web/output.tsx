import { useEffect, useState } from "preact/hooks";
import { getJson, type OutputPage } from "./api.js";
import { fileSize } from "./format.js";

const PAGE_BYTES = 128 * 1024;
/** Text kept on the page: older pages drop off, so a 50 MB log never freezes the browser. */
const KEEP_BYTES = 2 * 1024 * 1024;

/** The run's output (`ID.meta/output/40_run`), read a page at a time. */
export function OutputView({ runId, size }: { runId: string; size: number }) {
  const [text, setText] = useState("");
  const [start, setStart] = useState(0);
  const [next, setNext] = useState(0);
  const [total, setTotal] = useState(size);
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const base = `api/runs/${encodeURIComponent(runId)}/output?limit=${PAGE_BYTES}`;

  const load = async (query: string, append: boolean) => {
    setBusy(true);
    try {
      const page = await getJson<OutputPage>(`${base}&${query}`);
      setTotal(page.size);
      if (append) {
        let t = text + page.text;
        let s = start;
        if (t.length > KEEP_BYTES) {
          const cut = t.indexOf("\n", t.length - KEEP_BYTES);
          s += new TextEncoder().encode(t.slice(0, cut + 1)).length;
          t = t.slice(cut + 1);
        }
        setText(t);
        setStart(s);
      } else {
        setText(page.text);
        setStart(page.offset);
      }
      setNext(page.next);
      setError(undefined);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    void load("offset=0", false);
  }, [runId]);

  if (total === 0 && !busy) return <p class="muted">No output.</p>;
  return (
    <div class="output">
      {start > 0 && (
        <p class="muted">
          {fileSize(start)} before this point.{" "}
          <button type="button" class="link" onClick={() => load("offset=0", false)}>
            Go to the start
          </button>
        </p>
      )}
      <pre class="code log">{text}</pre>
      {error && <p class="error">{error}</p>}
      <div class="output-foot muted">
        <span>
          {fileSize(next)} of {fileSize(total)}
        </span>
        {next < total && (
          <>
            <button type="button" class="ghost" disabled={busy} onClick={() => load(`offset=${next}`, true)}>
              Load more
            </button>
            <button type="button" class="ghost" disabled={busy} onClick={() => load("tail=1", false)}>
              Jump to the end
            </button>
          </>
        )}
      </div>
    </div>
  );
}
