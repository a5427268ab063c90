/** Calls to the JSON API (docs/serve.md), relative to the page so a --base-path works unchanged. */

export interface Session {
  access: "write" | "read";
  csrf: string;
  author: string;
  login: boolean;
  source: { kind: "runs-dir" | "store" | "git"; location: string };
}

export interface RunRow {
  index: number;
  id: string;
  name: string;
  operation: string;
  status: string;
  started: string | null;
  label: string | null;
  columns?: Record<string, unknown>;
}

export interface RunPage {
  total: number;
  offset: number;
  limit: number;
  runs: RunRow[];
}

export interface FileInfo {
  path: string;
  size: number;
}

export interface RunDetail extends Omit<RunRow, "index"> {
  stopped: string | null;
  duration: number | null;
  exitCode: number | null;
  tags: string[];
  flags: Record<string, unknown>;
  attributes: Record<string, unknown>;
  comments: Array<{ id: string; author: string | null; msg: string; time: string | null }>;
  files: FileInfo[];
  filesTruncated: boolean;
  output: { size: number };
  meta: { command: unknown; env: unknown; platform: unknown };
}

export interface OutputPage {
  size: number;
  offset: number;
  next: number;
  text: string;
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

let csrf = "";

async function check(res: Response): Promise<Response> {
  if (res.status === 401) {
    location.href = "login";
    throw new ApiError(401, "Log in first");
  }
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try {
      msg = ((await res.json()) as { error?: string }).error ?? msg;
    } catch {
      // Not JSON: the status says it.
    }
    throw new ApiError(res.status, msg);
  }
  return res;
}

export async function getJson<T>(url: string, signal?: AbortSignal): Promise<T> {
  const res = await check(await fetch(url, { signal: signal ?? null, headers: { Accept: "application/json" } }));
  return (await res.json()) as T;
}

export async function postJson<T>(url: string, body: unknown): Promise<T> {
  const res = await check(
    await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    }),
  );
  return (await res.json()) as T;
}

export async function loadSession(): Promise<Session> {
  const s = await getJson<Session>("api/session");
  csrf = s.csrf;
  return s;
}

const enc = (path: string) => path.split("/").map(encodeURIComponent).join("/");

export const fileUrl = (runId: string, path: string) => `api/runs/${encodeURIComponent(runId)}/files/${enc(path)}`;

/** The first `max` bytes of a run file (a Range request: large files are never read whole). */
export async function fileHead(runId: string, path: string, max: number): Promise<{ bytes: Uint8Array; size: number }> {
  const res = await check(await fetch(fileUrl(runId, path), { headers: { Range: `bytes=0-${max - 1}` } }));
  const range = res.headers.get("Content-Range");
  const bytes = new Uint8Array(await res.arrayBuffer());
  const size = range ? Number(range.split("/")[1]) : bytes.length;
  return { bytes, size };
}
