import type { HttpBindings } from "@hono/node-server";
import { getConnInfo } from "@hono/node-server/conninfo";
import { Hono, type Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { apiRoutes, type ApiDeps, type ServeEnv } from "./api.js";
import type { Auth, Credential } from "./auth.js";
import type { WebAssets } from "./assets.js";

export interface AppOptions extends ApiDeps {
  auth: Auth;
  assets: WebAssets;
  /** `/prefix` behind a reverse proxy, or "" (no trailing slash). */
  basePath: string;
  /** Host names (with port) a request may be addressed to; undefined: any (a token guards it). */
  allowedHosts?: ReadonlySet<string>;
  /** An unexpected error while answering (the request gets a 500). */
  onError?: (err: Error) => void;
}

const SESSION_COOKIE = "gage_session";

/** Every page and asset of the app: scripts and styles from this origin only, nothing inline. */
const APP_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

type Env = ServeEnv & { Bindings: HttpBindings };

/**
 * This server's origin as the browser sees it: behind a reverse proxy, the forwarded scheme and
 * host. (A page of another origin cannot add these headers: they would need a CORS preflight.)
 */
function ownOrigin(c: Context): string {
  const proto = c.req.header("x-forwarded-proto")?.split(",")[0]?.trim() || new URL(c.req.url).protocol.replace(/:$/, "");
  const host = c.req.header("x-forwarded-host")?.split(",")[0]?.trim() || c.req.header("host") || "";
  return `${proto}://${host}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The whole web app: security headers, host and path checks, login, the pages, the JSON API. */
export function createApp(opts: AppOptions): Hono<Env> {
  const { auth, assets } = opts;
  const app = new Hono<Env>();
  const base = opts.basePath;
  const root = new Hono<Env>().basePath(base || "/");

  app.use("*", async (c, next) => {
    c.header("Content-Security-Policy", APP_CSP);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("X-Frame-Options", "DENY");
    c.header("Referrer-Policy", "no-referrer");
    c.header("Cross-Origin-Opener-Policy", "same-origin");
    c.header("Cross-Origin-Resource-Policy", "same-origin");
    // A page addressed by another name (DNS rebinding to a loopback server) gets nothing.
    const host = (c.req.header("host") ?? "").toLowerCase();
    if (opts.allowedHosts && !opts.allowedHosts.has(host)) {
      return c.text(`Unknown host '${host}': this open server answers to ${[...opts.allowedHosts].join(", ")}. Behind a reverse proxy, give it a --token.`, 421);
    }
    // The raw target, before URL parsing folds `..` away: a dot segment, encoded or not, is a 404.
    const raw = (c.env?.incoming?.url ?? new URL(c.req.url).pathname).split("?")[0]!;
    c.set("rawPath", raw);
    if (raw.split("/").some((seg) => /^(\.|%2e){1,2}$/i.test(seg) || /%(25)*2e%(25)*2e|%(25)*2f|%(25)*5c/i.test(seg))) return c.json({ error: "Not found" }, 404);
    await next();
  });

  const address = (c: Context<Env>) => {
    try {
      return getConnInfo(c).remote.address ?? "?";
    } catch {
      return "?";
    }
  };

  /** The request's credential, or a response refusing it (a bad token waits, growing with each miss). */
  const authenticate = async (c: Context<Env>): Promise<Credential | Response> => {
    const who = address(c);
    const cred = auth.credential(c.req.header("authorization"), getCookie(c, SESSION_COOKIE));
    if (cred === "bad-token") {
      const wait = auth.penalty(who);
      if (wait > 0) return c.json({ error: "Too many failed attempts: wait and try again" }, 429, { "Retry-After": String(Math.ceil(wait / 1000)) });
      await sleep(auth.failed(who));
      return c.json({ error: "Invalid token" }, 401, { "WWW-Authenticate": "Bearer" });
    }
    if (cred === undefined) return c.json({ error: "Log in first: open the login page, or send Authorization: Bearer TOKEN" }, 401, { "WWW-Authenticate": "Bearer" });
    return cred;
  };

  root.get("/assets/:name", (c) => {
    const asset = assets.get(c.req.param("name"));
    if (asset === undefined) return c.json({ error: "Not found" }, 404);
    return c.body(new Uint8Array(asset.bytes), 200, { "Content-Type": asset.type, "Cache-Control": "no-cache", ETag: asset.etag });
  });

  root.get("/login", (c) => {
    const page = assets.page("login");
    return c.html(c.req.query("failed") === undefined ? page : page.replace("<!--failed-->", '<p class="error">That token is not valid.</p>'));
  });
  root.post("/login", async (c) => {
    const who = address(c);
    const wait = auth.penalty(who);
    if (wait > 0) {
      await sleep(wait);
    }
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const token = typeof form.token === "string" ? form.token : "";
    const name = typeof form.name === "string" ? form.name.trim().slice(0, 100) : "";
    const access = token ? auth.accessFor(token) : undefined;
    if (access === undefined) {
      await sleep(auth.failed(who));
      return c.redirect(`${base}/login?failed=1`, 303);
    }
    auth.succeeded(who);
    const session = auth.startSession(access, name || undefined);
    setCookie(c, SESSION_COOKIE, session.id, { httpOnly: true, sameSite: "Strict", secure: ownOrigin(c).startsWith("https:"), path: base || "/", maxAge: session.maxAge });
    return c.redirect(`${base}/`, 303);
  });
  root.post("/logout", (c) => {
    auth.endSession(getCookie(c, SESSION_COOKIE));
    deleteCookie(c, SESSION_COOKIE, { path: base || "/" });
    return c.redirect(`${base}/login`, 303);
  });

  const indexPage = (c: Context<Env>) => {
    // Relative asset and API URLs need the trailing slash.
    if (base && new URL(c.req.url).pathname === base) return c.redirect(`${base}/`, 301);
    if (!auth.open && auth.credential(c.req.header("authorization"), getCookie(c, SESSION_COOKIE)) === undefined) return c.redirect(`${base}/login`, 303);
    return c.html(assets.page("index"));
  };
  root.get("/", indexPage);
  if (base) app.get(`${base}/`, indexPage);

  root.use("/api/*", async (c, next) => {
    const cred = await authenticate(c);
    if (cred instanceof Response) return cred;
    c.set("cred", cred);
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      if (opts.source.readOnly) return c.json({ error: `${opts.source.location} is served read-only: label or comment with gage, then gage push` }, 403);
      if (cred.access !== "write") return c.json({ error: "This token can only read" }, 403);
      // A browser's request carries its origin: it must be this server's. Only a script holding
      // the token itself may send none.
      const origin = c.req.header("origin");
      if (origin !== undefined ? origin !== ownOrigin(c) : !cred.bearer) return c.json({ error: "Cross-origin write refused" }, 403);
      if (!auth.checkCsrf(cred, c.req.header("x-csrf-token"))) return c.json({ error: "Missing or wrong X-CSRF-Token (GET api/session gives it)" }, 403);
    }
    await next();
  });
  root.get("/api/session", (c) => {
    const cred = c.get("cred");
    return c.json({
      access: opts.source.readOnly ? "read" : cred.access,
      csrf: auth.csrfToken(cred),
      author: cred.name ?? opts.author,
      login: !auth.open && !cred.bearer,
      source: { kind: opts.source.kind, location: opts.source.location },
    });
  });
  root.route("/api", apiRoutes(opts));
  root.all("/api/*", (c) => c.json({ error: "Not found" }, 404));

  app.route("/", root);
  app.notFound((c) => c.json({ error: "Not found" }, 404));
  app.onError((err, c) => {
    opts.onError?.(err);
    return c.json({ error: "Internal error" }, 500);
  });
  return app;
}
