import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { listRuns, readRun } from "../../src/runs/run.js";
import { readUserLog } from "../../src/runs/user-log.js";
import { RunsDirSource } from "../../src/serve/local-source.js";
import { startServer, type RunningServer } from "../../src/serve/server.js";
import { tempDir } from "../helpers/fixtures.js";
import { json, PNG, rawRequest, sampleRuns, webAssets } from "../helpers/serve.js";

const tmp = tempDir("gage-serve-http-");
const runsDir = join(tmp.path, "runs");
let ids: Awaited<ReturnType<typeof sampleRuns>>;
let server: RunningServer;
let port: number;
const NOW = 1_770_000_000_000;

before(async () => {
  mkdirSync(runsDir);
  ids = await sampleRuns(runsDir);
  const runDir = join(runsDir, ids.a);
  writeFileSync(join(runDir, "page.html"), "<script>window.__pwned = 1</script>");
  writeFileSync(join(runDir, "icon.svg"), '<svg xmlns="http://www.w3.org/2000/svg" onload="window.__pwned=1"/>');
  writeFileSync(join(tmp.path, "secret.txt"), "top secret");
  symlinkSync(join(tmp.path, "secret.txt"), join(runDir, "link.txt"));
  symlinkSync(tmp.path, join(runDir, "outside"));
  server = await startServer({ source: new RunsDirSource(runsDir), port: 0, author: "server-user", assetsDir: webAssets(), now: () => NOW });
  port = server.port;
});
after(async () => {
  await server?.close();
  tmp.cleanup();
});

const get = (target: string, headers: Record<string, string> = {}) => rawRequest(port, "GET", target, { headers });
const origin = () => `http://127.0.0.1:${port}`;

async function csrf(headers: Record<string, string> = {}): Promise<string> {
  return json(await get("/api/session", headers)).csrf as string;
}

async function post(target: string, body: unknown, headers: Record<string, string> = {}) {
  return rawRequest(port, "POST", target, {
    headers: { "Content-Type": "application/json", Origin: origin(), "X-CSRF-Token": await csrf(), ...headers },
    body: JSON.stringify(body),
  });
}

describe("GET /api/runs", () => {
  test("lists runs newest first with the columns of gage ls", async () => {
    const res = json(await get("/api/runs"));
    assert.equal(res.total, 4);
    assert.deepEqual(res.runs.map((r: any) => r.id), [ids.d, ids.c, ids.b, ids.a]);
    const a = res.runs[3];
    assert.deepEqual(
      { index: a.index, name: a.name, operation: a.operation, status: a.status, label: a.label, started: a.started },
      { index: 4, name: (await readRun(runsDir, ids.a)).name, operation: "gage:train", status: "completed", label: "baseline", started: new Date(1_760_000_000_000).toISOString() },
    );
    assert.deepEqual(res.runs.map((r: any) => r.status), ["running", "error", "completed", "completed"]);
  });

  test("filters with gage ls --where syntax", async () => {
    const ids_ = async (where: string) => json(await get(`/api/runs?where=${encodeURIComponent(where)}`)).runs.map((r: any) => r.id);
    assert.deepEqual(await ids_("status=error"), [ids.c]);
    assert.deepEqual(await ids_("train completed"), [ids.b, ids.a]);
    assert.deepEqual(await ids_("label~lr"), [ids.b]);
    assert.deepEqual(await ids_("loss=0.42"), [ids.a]);
    assert.deepEqual(await ids_("operation!=train"), [ids.c]);
  });

  test("sorts by any column, flags and attributes included, and pages", async () => {
    const order = async (q: string) => json(await get(`/api/runs?${q}`)).runs.map((r: any) => r.id);
    assert.deepEqual(await order("sort=started"), [ids.a, ids.b, ids.c, ids.d]);
    assert.deepEqual(await order("sort=-index"), [ids.a, ids.b, ids.c, ids.d]);
    assert.deepEqual(await order("sort=flag:lr"), [ids.b, ids.a, ids.d, ids.c], "missing values last");
    assert.deepEqual(await order("sort=-flag:lr"), [ids.d, ids.a, ids.b, ids.c]);
    assert.deepEqual(await order("sort=attr:loss"), [ids.b, ids.a, ids.d, ids.c]);
    assert.deepEqual(await order("sort=status&limit=2"), [ids.b, ids.a]);
    const page = json(await get("/api/runs?offset=1&limit=2"));
    assert.deepEqual([page.total, page.offset, page.limit, page.runs.length], [4, 1, 2, 2]);
    assert.equal(page.runs[0].id, ids.c);
  });

  test("adds chosen flag and attribute columns", async () => {
    const res = json(await get("/api/runs?columns=flag:lr,attr:loss,bogus&where=completed"));
    assert.deepEqual(res.runs.map((r: any) => r.columns), [{ "flag:lr": 0.01, "attr:loss": 0.31 }, { "flag:lr": 0.1, "attr:loss": 0.42 }]);
    const cols = json(await get("/api/columns"));
    assert.deepEqual(cols, { flags: ["epochs", "lr"], attributes: ["loss"] });
  });

  test("bad filters and sorts are 400 with a message", async () => {
    const bad = await get("/api/runs?sort=nonsense");
    assert.equal(bad.status, 400);
    assert.match(json(bad).error, /Cannot sort by 'nonsense'/);
  });
});

describe("GET /api/runs/ID", () => {
  test("returns flags, attributes, comments, files, times and metadata", async () => {
    const run = json(await get(`/api/runs/${ids.a}`));
    assert.equal(run.id, ids.a);
    assert.deepEqual(run.flags, { lr: 0.1, epochs: 10 });
    assert.deepEqual(run.attributes, { loss: 0.42 });
    assert.equal(run.label, "baseline");
    assert.equal(run.exitCode, 0);
    assert.equal(run.duration, 12.5);
    assert.deepEqual(run.files.map((f: any) => f.path), ["icon.svg", "metrics.csv", "nested/deep/notes.txt", "page.html", "plots/loss.png", "train.py"]);
    assert.equal(run.files.find((f: any) => f.path === "plots/loss.png").size, PNG.length);
    assert.deepEqual(run.meta.command, ["python", "-um", "train"]);
    assert.equal(run.meta.platform.system, "Linux");
    assert.equal(run.output.size, "epoch 1 loss 0.9\nepoch 2 loss 0.42\n".length);
    const failed = json(await get(`/api/runs/${ids.c}`));
    assert.equal(failed.exitCode, 1);
    assert.equal(failed.status, "error");
  });

  test("an unknown run is 404", async () => {
    assert.equal((await get("/api/runs/99999999-0000-4000-8000-000000000000")).status, 404);
    assert.equal((await get("/api/runs/nothing")).status, 404);
    assert.equal((await get("/api/nothing")).status, 404);
  });
});

describe("files and output", () => {
  test("serves file bytes, whole and ranged", async () => {
    const whole = await get(`/api/runs/${ids.a}/files/metrics.csv`);
    assert.equal(whole.status, 200);
    assert.equal(whole.body.toString(), "step,loss\n1,0.9\n2,0.42\n");
    assert.equal(whole.headers["accept-ranges"], "bytes");
    const part = await get(`/api/runs/${ids.a}/files/metrics.csv`, { Range: "bytes=5-8" });
    assert.equal(part.status, 206);
    assert.equal(part.body.toString(), "loss");
    assert.equal(part.headers["content-range"], "bytes 5-8/23");
    const tail = await get(`/api/runs/${ids.a}/files/metrics.csv`, { Range: "bytes=-5" });
    assert.equal(tail.body.toString(), "0.42\n");
    assert.equal((await get(`/api/runs/${ids.a}/files/metrics.csv`, { Range: "bytes=100-" })).status, 416);
    assert.equal((await get(`/api/runs/${ids.a}/files/metrics.csv`, { Range: "bytes=0-1,4-5" })).status, 416);
    const deep = await get(`/api/runs/${ids.a}/files/nested/deep/notes.txt`);
    assert.equal(deep.body.toString(), "deep\n");
    const meta = await get(`/api/runs/${ids.a}/meta/opref`);
    assert.equal(meta.body.toString(), "1 gage train");
  });

  test("images are inline; HTML, SVG and the rest are downloads in a sandbox", async () => {
    const png = await get(`/api/runs/${ids.a}/files/plots/loss.png`);
    assert.equal(png.headers["content-type"], "image/png");
    assert.match(String(png.headers["content-disposition"]), /^inline/);
    assert.deepEqual(png.body, PNG);
    for (const name of ["page.html", "icon.svg", "train.py"]) {
      const res = await get(`/api/runs/${ids.a}/files/${name}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers["content-type"], "application/octet-stream", name);
      assert.match(String(res.headers["content-disposition"]), /^attachment; filename\*=UTF-8''/, name);
      assert.equal(res.headers["content-security-policy"], "default-src 'none'; sandbox");
      assert.equal(res.headers["x-content-type-options"], "nosniff");
    }
  });

  test("paths outside the run's tree are 404, encoded or not", async () => {
    const base = `/api/runs/${ids.a}/files`;
    for (const target of [
      `${base}/../${ids.b}/train.py`,
      `${base}/nested/../train.py`,
      `${base}/nested/%2e%2e/train.py`,
      `${base}/../../secret.txt`,
      `${base}/%2e%2e/%2e%2e/secret.txt`,
      `${base}/%2E%2E/${ids.b}/train.py`,
      `${base}/.%2e/${ids.b}/train.py`,
      `${base}/nested/..%2f..%2f..%2fsecret.txt`,
      `${base}/nested%2f..%2f..%2f${ids.b}/train.py`,
      `${base}/%252e%252e/%252e%252e/secret.txt`,
      `${base}/..%5c..%5csecret.txt`,
      `${base}//etc/passwd`,
      `${base}/./train.py`,
      `${base}/link.txt`,
      `${base}/outside/secret.txt`,
      `${base}/nested`,
      `${base}/`,
      `/api/runs/${ids.a}/meta/../${ids.a}/train.py`,
      `/api/runs/..%2f${ids.a}/files/train.py`,
    ]) {
      const res = await get(target);
      assert.equal(res.status, 404, target);
      assert.ok(!res.body.toString().includes("top secret"), target);
    }
  });

  test("the output log comes in pages that end on a line", async () => {
    const first = json(await get(`/api/runs/${ids.a}/output?limit=20`));
    assert.deepEqual(first, { size: 35, offset: 0, next: 17, text: "epoch 1 loss 0.9\n" });
    const second = json(await get(`/api/runs/${ids.a}/output?offset=${first.next}&limit=20`));
    assert.deepEqual(second, { size: 35, offset: 17, next: 35, text: "epoch 2 loss 0.42\n" });
    const tail = json(await get(`/api/runs/${ids.a}/output?tail=1&limit=18`));
    assert.equal(tail.text, "epoch 2 loss 0.42\n");
    const none = json(await get(`/api/runs/${ids.d}/output`));
    assert.deepEqual(none, { size: 0, offset: 0, next: 0, text: "" });
  });
});

describe("writes", () => {
  test("a comment is a user log entry in Gage's form, read back by gage", async () => {
    const res = await post(`/api/runs/${ids.b}/comments`, { msg: "  Looks good <b>really</b>  " });
    assert.equal(res.status, 201);
    const cid = json(res).id as string;
    const log = await readUserLog(join(runsDir, `${ids.b}.user`));
    const last = log.at(-1)!;
    assert.deepEqual(last.entry, { author: "server-user", set: { [`comment:${cid}`]: { msg: "Looks good <b>really</b>", timestamp: NOW } }, delete: [] });
    const text = readFileSync(join(runsDir, `${ids.b}.user`, last.name), "utf8");
    assert.match(text, /^\{"author": "server-user", "set": \{"comment:/);
    const run = json(await get(`/api/runs/${ids.b}`));
    assert.deepEqual(run.comments, [{ id: cid, author: "server-user", msg: "Looks good <b>really</b>", time: new Date(NOW).toISOString() }]);
  });

  test("a label is set and cleared as gage label does", async () => {
    assert.equal((await post(`/api/runs/${ids.c}/label`, { label: "flaky data" })).status, 200);
    assert.equal((await readRun(runsDir, ids.c)).label, "flaky data");
    assert.equal(json(await get(`/api/runs?where=${encodeURIComponent(`label="flaky data"`)}`)).total, 1);
    assert.equal((await post(`/api/runs/${ids.c}/label`, { label: null })).status, 200);
    assert.equal((await readRun(runsDir, ids.c)).label, undefined);
    assert.equal((await post(`/api/runs/${ids.c}/label`, { label: 42 })).status, 400);
  });

  test("empty comments and unknown runs are refused", async () => {
    assert.equal((await post(`/api/runs/${ids.b}/comments`, { msg: "   " })).status, 400);
    assert.equal((await post(`/api/runs/${ids.b}/comments`, "text")).status, 400);
    assert.equal((await post(`/api/runs/99999999-0000-4000-8000-000000000000/comments`, { msg: "x" })).status, 404);
  });

  test("a write needs the CSRF token and this server's origin", async () => {
    const before = readdirSync(join(runsDir, `${ids.a}.user`)).length;
    const body = JSON.stringify({ msg: "forged" });
    const h = { "Content-Type": "application/json" };
    const token = await csrf();
    const cases: Array<[string, Record<string, string>]> = [
      ["no token", { ...h, Origin: origin() }],
      ["wrong token", { ...h, Origin: origin(), "X-CSRF-Token": "x" + token }],
      ["other origin", { ...h, Origin: "http://evil.example", "X-CSRF-Token": token }],
      ["no origin, no bearer", { ...h, "X-CSRF-Token": token }],
      ["null origin", { ...h, Origin: "null", "X-CSRF-Token": token }],
    ];
    for (const [what, headers] of cases) {
      const res = await rawRequest(port, "POST", `/api/runs/${ids.a}/comments`, { headers, body });
      assert.equal(res.status, 403, what);
    }
    assert.equal(readdirSync(join(runsDir, `${ids.a}.user`)).length, before);
    assert.equal((await listRuns(runsDir)).length, 4);
  });
});

describe("headers and hosts", () => {
  test("every answer carries a strict CSP, nosniff and no CORS", async () => {
    for (const target of ["/", "/login", "/assets/app.js", "/assets/app.css", "/api/session", "/api/runs", `/api/runs/${ids.a}`, "/api/nothing", "/nothing"]) {
      const res = await get(target, { Origin: "http://evil.example" });
      assert.equal(res.headers["x-content-type-options"], "nosniff", target);
      assert.match(String(res.headers["content-security-policy"]), /default-src 'none'/, target);
      assert.equal(res.headers["x-frame-options"], "DENY", target);
      assert.equal(res.headers["access-control-allow-origin"], undefined, target);
    }
    const page = await get("/");
    assert.match(String(page.headers["content-security-policy"]), /script-src 'self';/);
    assert.doesNotMatch(String(page.headers["content-security-policy"]), /unsafe-inline|unsafe-eval|\*/);
    assert.match(page.body.toString(), /<script type="module" src="assets\/app.js">/);
    assert.equal((await get("/assets/app.js")).headers["content-type"], "text/javascript; charset=utf-8");
    const preflight = await rawRequest(port, "OPTIONS", "/api/runs", { headers: { Origin: "http://evil.example", "Access-Control-Request-Method": "POST" } });
    assert.equal(preflight.headers["access-control-allow-origin"], undefined);
  });

  test("the first page load stays small: the page, its script and its styles under 200 KB", async () => {
    const sizes = await Promise.all(["/", "/assets/app.js", "/assets/app.css"].map(async (t) => (await get(t)).body.length));
    assert.ok(sizes.every((n) => n > 0));
    const total = sizes.reduce((a, b) => a + b, 0);
    assert.ok(total < 200 * 1024, `first load is ${total} bytes`);
  });

  test("a request for another host name is refused (DNS rebinding)", async () => {
    const res = await get("/api/runs", { Host: `evil.example:${port}` });
    assert.equal(res.status, 421);
    assert.equal((await get("/api/runs", { Host: `localhost:${port}` })).status, 200);
  });

  test("an open loopback server grants write access and says so", async () => {
    const s = json(await get("/api/session"));
    assert.equal(s.access, "write");
    assert.equal(s.login, false);
    assert.equal(s.author, "server-user");
    assert.deepEqual(s.source, { kind: "runs-dir", location: runsDir });
  });
});
