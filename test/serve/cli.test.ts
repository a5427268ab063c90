import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { push } from "../../src/sync/index.js";
import { openStorage } from "../../src/remotes/open.js";
import { tempDir } from "../helpers/fixtures.js";
import { baseEnv, gage, GAGE_BIN } from "../helpers/cli.js";
import { json, rawRequest, sampleRuns } from "../helpers/serve.js";

const tmp = tempDir("gage-serve-cli-");
const runsDir = join(tmp.path, "runs");
const children: ChildProcess[] = [];

before(async () => {
  mkdirSync(runsDir);
  await sampleRuns(runsDir);
});
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  tmp.cleanup();
});

/** Starts `gage serve ARGS` and resolves with the URL it prints. */
function serve(args: string[], env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: URL; out: () => string; err: () => string }> {
  const child = spawn(process.execPath, [GAGE_BIN, "serve", ...args], { env: baseEnv({ GAGE_RUNS: runsDir, ...env }) });
  children.push(child);
  let out = "";
  let err = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  return new Promise((resolve, reject) => {
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      const m = / at (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: new URL(m[1]!), out: () => out, err: () => err });
    });
    child.on("exit", (code) => reject(new Error(`gage serve exited ${code}: ${err}`)));
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.on("exit", (code) => resolve(code))));
}

test("gage serve prints its URL, serves the runs directory and stops on Ctrl-C", async () => {
  const s = await serve(["--port", "0"]);
  assert.match(s.out(), new RegExp(`^Serving ${runsDir} at http://127\\.0\\.0\\.1:\\d+/\\nPress Ctrl-C to stop\\.\\n$`));
  const port = Number(s.url.port);
  assert.equal(json(await rawRequest(port, "GET", "/api/runs")).total, 4);
  assert.equal((await rawRequest(port, "GET", "/")).status, 200);
  assert.equal((await rawRequest(port, "GET", "/assets/app.js")).status, 200, "the built front end is found beside the bundle");
  s.child.kill("SIGINT");
  assert.equal(await exited(s.child), 0);
});

test("a non-loopback bind without a token is refused before listening", async () => {
  const res = await gage(["serve", "--host", "0.0.0.0", "--port", "0"], { env: { GAGE_RUNS: runsDir } });
  assert.equal(res.code, 2);
  assert.match(res.stderr, /Refusing to serve on 0\.0\.0\.0 without a token/);
  assert.match(res.stderr, /--token TOKEN \(or set GAGE_SERVE_TOKEN\)/);
  assert.equal(res.stdout, "");
});

test("GAGE_SERVE_TOKEN guards the server; --base-path serves under a prefix", async () => {
  const s = await serve(["--port", "0", "--base-path", "/gage"], { GAGE_SERVE_TOKEN: "cli-secret" });
  const port = Number(s.url.port);
  assert.equal(s.url.pathname, "/gage/");
  assert.equal((await rawRequest(port, "GET", "/gage/api/runs")).status, 401);
  assert.equal((await rawRequest(port, "GET", "/gage/api/runs", { headers: { Authorization: "Bearer cli-secret" } })).status, 200);
  s.child.kill("SIGTERM");
  assert.equal(await exited(s.child), 0);
});

test("gage serve FOLDER serves a store folder", async () => {
  const store = join(tmp.path, "store");
  const storage = await openStorage(store);
  await push({ runsDir, remote: storage });
  await storage.close();
  const s = await serve([store, "--port", "0"]);
  assert.match(s.out(), new RegExp(`^Serving ${store} at `));
  assert.equal(json(await rawRequest(Number(s.url.port), "GET", "/api/runs?where=completed")).total, 2);
  s.child.kill("SIGINT");
  assert.equal(await exited(s.child), 0);
});

test("--open hands the URL to $BROWSER, which loads the web view; a missing browser is a warning", async () => {
  // A tiny browser: it loads the page it is given, as a user's would, and saves what it got
  // (under another name first, so the test never reads a file still being written).
  const page = join(tmp.path, "opened.html");
  const browser = join(tmp.path, "fetch-url.mjs");
  writeFileSync(browser, `#!${process.execPath}\nconst r = await fetch(process.argv[2]);\nif (!r.ok) process.exit(1);\nconst fs = await import("node:fs");\nfs.writeFileSync(${JSON.stringify(page + ".part")}, await r.text());\nfs.renameSync(${JSON.stringify(page + ".part")}, ${JSON.stringify(page)});\n`);
  chmodSync(browser, 0o755);
  const s = await serve(["--port", "0", "--open"], { BROWSER: browser });
  for (let i = 0; i < 100 && !existsSync(page); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(readFileSync(page, "utf8"), /<title>Gage runs<\/title>/);
  s.child.kill("SIGINT");
  assert.equal(await exited(s.child), 0);

  const missing = await serve(["--port", "0", "--open"], { BROWSER: join(tmp.path, "no-such-browser") });
  for (let i = 0; i < 100 && !missing.err().includes("cannot open"); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(missing.err(), /cannot open a browser \(.*no-such-browser\): open http:\/\/127\.0\.0\.1:\d+\/ yourself, or set BROWSER/);
  assert.equal((await rawRequest(Number(missing.url.port), "GET", "/")).status, 200, "the server keeps serving");
  missing.child.kill("SIGINT");
  assert.equal(await exited(missing.child), 0);
});

test("bad options are usage errors", async () => {
  const port = await gage(["serve", "--port", "http"], { env: { GAGE_RUNS: runsDir } });
  assert.equal(port.code, 2);
  assert.match(port.stderr, /--port must be a port number, got 'http'/);
  const both = await gage(["serve", "--no-auth", "--token", "x", "--port", "0"], { env: { GAGE_RUNS: runsDir } });
  assert.equal(both.code, 2);
  const help = await gage(["serve", "--help"]);
  assert.match(help.stdout, /--read-token <token>/);
  assert.match(help.stdout, /--base-path <path>/);
});
