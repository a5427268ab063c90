import { useEffect, useState } from "preact/hooks";
import { fileHead, fileUrl } from "./api.js";
import { ext, fileSize, IMAGE_EXT } from "./format.js";

/** Bytes read for a text or table preview: a preview never reads a large file whole. */
const PREVIEW_BYTES = 256 * 1024;
const MAX_TABLE_ROWS = 500;

/** Parses CSV or TSV text (quoted fields as RFC 4180), at most `maxRows` rows. */
export function parseDelimited(text: string, sep: string, maxRows: number): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length && rows.length < maxRows; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"' && field === "") quoted = true;
    else if (ch === sep) {
      row.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += ch;
  }
  if ((field !== "" || row.length > 0) && rows.length < maxRows) rows.push([...row, field]);
  return rows;
}

type Loaded = { kind: "text"; text: string; size: number } | { kind: "table"; rows: string[][]; size: number } | { kind: "binary"; size: number };

/**
 * A run file shown as the browser can show it safely: raster images as images; CSV and TSV as
 * tables; text (code, JSON, YAML, TOML, and HTML and SVG too) as plain text; anything else as a
 * download. Run files are never rendered as HTML, and the server sends them with a sandbox CSP.
 */
export function FilePreview({ runId, path, size }: { runId: string; path: string; size: number }) {
  const e = ext(path);
  const url = fileUrl(runId, path);
  // What was read is kept with the file it is of: a render for another file shows it loading,
  // never the last file's text under the new name.
  const key = `${runId}\0${path}`;
  const [read, setRead] = useState<{ key: string; loaded: Loaded | { kind: "error"; msg: string } } | undefined>(undefined);
  const loaded = read?.key === key ? read.loaded : undefined;
  const image = IMAGE_EXT.has(e);
  useEffect(() => {
    if (image) return;
    const setLoaded = (value: Loaded | { kind: "error"; msg: string }) => setRead({ key, loaded: value });
    let live = true;
    fileHead(runId, path, PREVIEW_BYTES).then(
      ({ bytes, size }) => {
        if (!live) return;
        if (bytes.subarray(0, 8000).includes(0)) return setLoaded({ kind: "binary", size });
        let text = new TextDecoder("utf-8").decode(bytes);
        if (e === "csv" || e === "tsv") return setLoaded({ kind: "table", rows: parseDelimited(text, e === "tsv" ? "\t" : ",", MAX_TABLE_ROWS), size });
        if (e === "json" && size <= bytes.length) {
          try {
            text = JSON.stringify(JSON.parse(text), null, 2);
          } catch {
            // Shown as it is.
          }
        }
        setLoaded({ kind: "text", text, size });
      },
      (err: Error) => live && setLoaded({ kind: "error", msg: err.message }),
    );
    return () => {
      live = false;
    };
  }, [runId, path]);

  const download = (
    <a class="download" href={url} download={path.split("/").pop()}>
      Download ({fileSize(size)})
    </a>
  );
  let body;
  if (image) body = <img class="preview-image" src={url} alt={path} loading="lazy" />;
  else if (loaded === undefined) body = <p class="muted">Loading…</p>;
  else if (loaded.kind === "error") body = <p class="error">{loaded.msg}</p>;
  else if (loaded.kind === "binary") body = <p class="muted">Binary file: no preview.</p>;
  else if (loaded.kind === "table") {
    const [head, ...rest] = loaded.rows;
    body = (
      <div class="table-wrap csv">
        <table class="grid small">
          {head && (
            <thead>
              <tr>
                {head.map((h, i) => (
                  <th key={i}>{h}</th>
                ))}
              </tr>
            </thead>
          )}
          <tbody>
            {rest.map((r, i) => (
              <tr key={i}>
                {r.map((v, j) => (
                  <td key={j}>{v}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    );
  } else body = <pre class="code">{loaded.text}</pre>;
  const partial = loaded && loaded.kind !== "error" && loaded.size > PREVIEW_BYTES && loaded.kind !== "binary";
  return (
    <div class="preview">
      <div class="preview-head">
        <span class="mono path">{path}</span>
        <span class="muted">{fileSize(size)}</span>
        {download}
      </div>
      {body}
      {partial && <p class="muted">Showing the first {fileSize(PREVIEW_BYTES)}: download the file for the rest.</p>}
    </div>
  );
}
