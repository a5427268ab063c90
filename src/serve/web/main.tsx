import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { loadSession, type Session } from "./api.js";
import "./app.css";
import { ComparePage } from "./compare-page.js";
import { useRoute } from "./hooks.js";
import { RunPage } from "./run-page.js";
import { RunsTable } from "./runs-table.js";

function App() {
  const [session, setSession] = useState<Session | undefined>();
  const [error, setError] = useState<string | undefined>();
  const route = useRoute();
  useEffect(() => {
    loadSession().then(setSession, (err: Error) => setError(err.message));
  }, []);
  useEffect(() => window.scrollTo(0, 0), [route.path.join("/")]);
  let page;
  if (error) page = <p class="error">{error}</p>;
  else if (!session) page = <p class="muted">Loading…</p>;
  else if (route.path[0] === "runs" && route.path[1]) page = <RunPage id={route.path[1]} session={session} file={route.query.get("file")} />;
  else if (route.path[0] === "compare") page = <ComparePage ids={(route.path[1] ?? "").split(",").filter(Boolean)} />;
  else page = <RunsTable query={route.query} />;
  return (
    <>
      <header class="top">
        <a class="brand" href="#/">
          <span class="logo">◆</span> Gage runs
        </a>
        {session && (
          <span class="source muted" title={session.source.location}>
            {session.source.kind === "runs-dir" ? "runs" : "remote"} · {session.source.location}
          </span>
        )}
        <span class="spacer" />
        {session?.access === "read" && <span class="badge">view only</span>}
        {session?.login && (
          <form method="post" action="logout">
            <button type="submit" class="link">
              Log out
            </button>
          </form>
        )}
      </header>
      <main>{page}</main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
