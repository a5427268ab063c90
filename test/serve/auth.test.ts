import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readUserLog } from "../../src/runs/user-log.js";
import { isLoopback, sameSecret } from "../../src/serve/auth.js";
import { ServeAuthRequiredError, ServeListenError } from "../../src/serve/errors.js";
import { RunsDirSource } from "../../src/serve/local-source.js";
import { DEFAULT_PORT, startServer, type RunningServer } from "../../src/serve/server.js";
import { UsageError } from "../../src/errors.js";
import { tempDir } from "../helpers/fixtures.js";
import { json, rawRequest, sampleRuns, webAssets } from "../helpers/serve.js";

const tmp = tempDir("gage-serve-auth-");
const runsDir = join(tmp.path, "runs");
const WRITE = "write-token-0123456789";
const READ = "read-token-abcdef";
let ids: Awaited<ReturnType<typeof sampleRuns>>;
let server: RunningServer;
let port: number;

before(async () => {
  mkdirSync(runsDir);
  ids = await sampleRuns(runsDir);
  server = await startServer({ source: new RunsDirSource(runsDir), port: 0, token: WRITE, readToken: READ, author: "server-user", assetsDir: webAssets() });
  port = server.port;
});
after(async () => {
  await server?.close();
  tmp.cleanup();
});

const origin = () => `http://127.0.0.1:${port}`;
const get = (target: string, headers: Record<string, string> = {}) => rawRequest(port, "GET", target, { headers });
const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });
const comment = (headers: Record<string, string>, msg = "hi") =>
  rawRequest(port, "POST", `/api/runs/${ids.a}/comments`, { headers: { "Content-Type": "application/json", ...headers }, body: JSON.stringify({ msg }) });

async function login(token: string, name = ""): Promise<{ status: number; location: string; cookie: string | undefined; setCookie: string }> {
  const res = await rawRequest(port, "POST", "/login", {
    headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: origin() },
    body: new URLSearchParams({ token, name }).toString(),
  });
  const setCookie = String(res.headers["set-cookie"] ?? "");
  return { status: res.status, location: String(res.headers.location), cookie: /gage_session=[^;]+/.exec(setCookie)?.[0], setCookie };
}

describe("tokens", () => {
  test("without a credential the API is 401 and pages lead to the login page", async () => {
    assert.equal((await get("/api/runs")).status, 401);
    assert.equal((await get(`/api/runs/${ids.a}/files/train.py`)).status, 401);
    const page = await get("/");
    assert.equal(page.status, 303);
    assert.equal(page.headers.location, "/login");
    const form = await get("/login");
    assert.equal(form.status, 200);
    assert.match(form.body.toString(), /<form class="login" method="post" action="login">/);
    assert.equal((await get("/assets/app.css")).status, 200);
  });

  test("a bearer write token reads and writes; scripts send the CSRF token but no Origin", async () => {
    assert.equal((await get("/api/runs", bearer(WRITE))).status, 200);
    const session = json(await get("/api/session", bearer(WRITE)));
    assert.equal(session.access, "write");
    assert.equal((await comment(bearer(WRITE))).status, 403, "no CSRF token");
    assert.equal((await comment({ ...bearer(WRITE), "X-CSRF-Token": session.csrf })).status, 201);
    assert.equal((await comment({ ...bearer(WRITE), "X-CSRF-Token": session.csrf, Origin: "http://evil.example" })).status, 403);
  });

  test("a read token reads but never writes", async () => {
    assert.equal((await get(`/api/runs/${ids.a}`, bearer(READ))).status, 200);
    const session = json(await get("/api/session", bearer(READ)));
    assert.equal(session.access, "read");
    const res = await comment({ ...bearer(READ), "X-CSRF-Token": session.csrf, Origin: origin() });
    assert.equal(res.status, 403);
    assert.match(json(res).error, /only read/);
  });

  test("the login page exchanges a token for an HttpOnly SameSite=Strict cookie", async () => {
    const ok = await login(WRITE, "Bob");
    assert.equal(ok.status, 303);
    assert.equal(ok.location, "/");
    assert.match(ok.setCookie, /HttpOnly/);
    assert.match(ok.setCookie, /SameSite=Strict/);
    assert.match(ok.setCookie, /Path=\//);
    assert.ok(ok.cookie);
    assert.ok(!ok.cookie.includes(WRITE), "the cookie is not the token");
    const session = json(await get("/api/session", { Cookie: ok.cookie }));
    assert.deepEqual([session.access, session.author, session.login], ["write", "Bob", true]);
    assert.equal((await get("/", { Cookie: ok.cookie })).status, 200);
    // The cookie alone is an ambient credential: the CSRF token and the origin are required.
    assert.equal((await comment({ Cookie: ok.cookie, Origin: origin() })).status, 403);
    const bearerCsrf = json(await get("/api/session", bearer(WRITE))).csrf;
    assert.equal((await comment({ Cookie: ok.cookie, Origin: origin(), "X-CSRF-Token": bearerCsrf })).status, 403, "another credential's CSRF token");
    assert.equal((await comment({ Cookie: ok.cookie, "X-CSRF-Token": session.csrf })).status, 403, "no origin");
    assert.equal((await comment({ Cookie: ok.cookie, Origin: origin(), "X-CSRF-Token": session.csrf }, "from Bob")).status, 201);
    const log = await readUserLog(join(runsDir, `${ids.a}.user`));
    assert.equal(log.at(-1)!.entry.author, "Bob");
    const out = await rawRequest(port, "POST", "/logout", { headers: { Cookie: ok.cookie, Origin: origin() } });
    assert.equal(out.status, 303);
    assert.equal((await get("/api/session", { Cookie: ok.cookie })).status, 401);
  });

  test("behind a reverse proxy the forwarded origin counts and the cookie is Secure", async () => {
    const proxy = { Host: "gage.example", "X-Forwarded-Proto": "https" };
    const res = await rawRequest(port, "POST", "/login", {
      headers: { ...proxy, "Content-Type": "application/x-www-form-urlencoded", Origin: "https://gage.example" },
      body: new URLSearchParams({ token: WRITE }).toString(),
    });
    const setCookie = String(res.headers["set-cookie"]);
    assert.match(setCookie, /; Secure/);
    const cookie = /gage_session=[^;]+/.exec(setCookie)![0];
    const csrf = json(await get("/api/session", { ...proxy, Cookie: cookie })).csrf;
    assert.equal((await comment({ ...proxy, Cookie: cookie, "X-CSRF-Token": csrf, Origin: "http://gage.example" })).status, 403);
    assert.equal((await comment({ ...proxy, Cookie: cookie, "X-CSRF-Token": csrf, Origin: "https://gage.example" }, "via proxy")).status, 201);
  });

  test("a read token's login session cannot write", async () => {
    const ok = await login(READ);
    const session = json(await get("/api/session", { Cookie: ok.cookie! }));
    assert.equal(session.access, "read");
    assert.equal((await comment({ Cookie: ok.cookie!, Origin: origin(), "X-CSRF-Token": session.csrf })).status, 403);
  });

  test("failed attempts are slowed, more with each", async () => {
    let t = Date.now();
    const bad = await login("wrong");
    assert.equal(bad.status, 303);
    assert.equal(bad.location, "/login?failed=1");
    assert.equal(bad.cookie, undefined);
    const first = Date.now() - t;
    assert.ok(first >= 240, `first failure held ${first} ms`);
    assert.match((await get("/login?failed=1")).body.toString(), /That token is not valid/);
    // Attempts in parallel: one is looked at, the others are refused at once while it waits.
    t = Date.now();
    const [a, b] = await Promise.all([get("/api/runs", bearer("wrong-again")), new Promise((r) => setTimeout(r, 50)).then(() => get("/api/runs", bearer("wrong-at-once")))]);
    assert.equal(a.status, 401);
    assert.ok(Date.now() - t >= 490, "the second failure waits twice as long");
    assert.equal(b.status, 429);
    assert.ok(Number(b.headers["retry-after"]) >= 1);
    // The right token still works at once.
    assert.equal((await get("/api/runs", bearer(WRITE))).status, 200);
  });
});

describe("binding", () => {
  test("a non-loopback address needs a token, or --no-auth; nothing listens otherwise", async () => {
    const source = new RunsDirSource(runsDir);
    await assert.rejects(startServer({ source, host: "0.0.0.0", port: 0, author: "x", assetsDir: webAssets() }), (err) => err instanceof ServeAuthRequiredError && err.code === "SERVE_AUTH_REQUIRED");
    await assert.rejects(startServer({ source, host: "192.168.1.10", port: 0, author: "x", assetsDir: webAssets() }), ServeAuthRequiredError);
    await assert.rejects(startServer({ source, host: "0.0.0.0", port: 0, noAuth: true, token: "t", author: "x", assetsDir: webAssets() }), UsageError);
    await assert.rejects(startServer({ source, port: 0, token: "same", readToken: "same", author: "x", assetsDir: webAssets() }), UsageError);
    assert.ok(isLoopback("127.0.0.1") && isLoopback("localhost") && isLoopback("::1") && isLoopback("[::1]") && isLoopback("127.1.2.3"));
    assert.ok(!isLoopback("0.0.0.0") && !isLoopback("::") && !isLoopback("10.0.0.1") && !isLoopback("example.com"));
  });

  test("tokens are compared whole", () => {
    assert.ok(sameSecret("abc", "abc"));
    assert.ok(!sameSecret("abc", "abcd"));
    assert.ok(!sameSecret("", "abc"));
  });

  test("the default port is 5051 or the next free one; a taken explicit port is an error", async () => {
    const one = await startServer({ source: new RunsDirSource(runsDir), author: "x", assetsDir: webAssets() });
    const two = await startServer({ source: new RunsDirSource(runsDir), author: "x", assetsDir: webAssets() });
    try {
      assert.ok(one.port >= DEFAULT_PORT && one.port < DEFAULT_PORT + 20);
      assert.ok(two.port > DEFAULT_PORT && two.port !== one.port);
      assert.equal(one.url, `http://127.0.0.1:${one.port}/`);
      await assert.rejects(startServer({ source: new RunsDirSource(runsDir), port: one.port, author: "x", assetsDir: webAssets() }), ServeListenError);
    } finally {
      await one.close();
      await two.close();
    }
  });

  test("--base-path serves everything under a prefix", async () => {
    const s = await startServer({ source: new RunsDirSource(runsDir), port: 0, basePath: "/team/gage/", author: "x", assetsDir: webAssets() });
    try {
      assert.equal(s.url, `http://127.0.0.1:${s.port}/team/gage/`);
      const g = (t: string) => rawRequest(s.port, "GET", t);
      const bare = await g("/team/gage");
      assert.equal(bare.status, 301);
      assert.equal(bare.headers.location, "/team/gage/");
      assert.equal((await g("/team/gage/")).status, 200);
      assert.equal(json(await g("/team/gage/api/runs")).total, 4);
      assert.equal((await g("/team/gage/assets/app.js")).status, 200);
      assert.equal((await g("/api/runs")).status, 404);
    } finally {
      await s.close();
    }
    await assert.rejects(startServer({ source: new RunsDirSource(runsDir), port: 0, basePath: "/a/../b", author: "x", assetsDir: webAssets() }), UsageError);
  });
});
