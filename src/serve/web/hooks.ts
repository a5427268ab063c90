import { useEffect, useState } from "preact/hooks";
import { getJson } from "./api.js";

/** The hash route: `#/`, `#/runs/ID`, `#/compare/ID,ID`, with a query after `?`. */
export function useRoute(): { path: string[]; query: URLSearchParams } {
  const read = () => {
    const h = location.hash.replace(/^#/, "") || "/";
    const [p, q] = h.split("?");
    return { path: p!.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(q ?? "") };
  };
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

/** JSON from the API, loaded again when `url` (or `version`) changes. */
export function useJson<T>(url: string | null, version = 0): { data: T | undefined; error: string | undefined; loading: boolean } {
  const [state, setState] = useState<{ data: T | undefined; error: string | undefined; loading: boolean }>({ data: undefined, error: undefined, loading: true });
  useEffect(() => {
    if (url === null) return;
    const ctl = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    getJson<T>(url, ctl.signal).then(
      (data) => setState({ data, error: undefined, loading: false }),
      (err: Error) => {
        if (err.name !== "AbortError") setState({ data: undefined, error: err.message, loading: false });
      },
    );
    return () => ctl.abort();
  }, [url, version]);
  return state;
}
