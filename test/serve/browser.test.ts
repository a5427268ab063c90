import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { openStorage } from "../../src/remotes/open.js";
import { RunsDirSource } from "../../src/serve/local-source.js";
import { startServer, type RunningServer } from "../../src/serve/server.js";
import type { RunSource } from "../../src/serve/source.js";
import { StoreSource } from "../../src/serve/store-source.js";
import { push } from "../../src/sync/index.js";
import { tempDir } from "../helpers/fixtures.js";
import { launchChromium } from "../helpers/chromium.js";
import { demoRuns, type DemoRun } from "../helpers/demo-runs.js";
import { startS3rver, type S3rverHandle } from "../helpers/s3rver.js";
import { webAssets, writeRun } from "../helpers/serve.js";

const NOW_SEC = Math.floor(Date.now() / 1000);
const tmp = tempDir("gage-serve-browser-");
// A test run leaves the checkout clean: docs/img is rewritten only when asked (CONTRIBUTING.md).
const SHOTS = process.env.GAGE_DOCS_SCREENSHOTS === "1" ? fileURLToPath(new URL("../../docs/img/", import.meta.url)) : join(tmp.path, "shots");
const runsDir = join(tmp.path, "runs");
let runs: DemoRun[];
let browser: Browser;
let s3: S3rverHandle | undefined;
let folderStore: string;

const HOSTILE = "77777777-0bad-4bad-8bad-0badbadbad00";
const PLAIN = "88888888-0a0a-4a0a-8a0a-0a0a0a0a0a0a";
const hostileDir = join(tmp.path, "hostile");
const PAYLOAD = "window.__pwned=(window.__pwned||0)+1";

before(async () => {
  mkdirSync(runsDir);
  mkdirSync(hostileDir);
  runs = await demoRuns(runsDir, NOW_SEC);
  await writeRun(hostileDir, { id: PLAIN, exit: 0, started: NOW_SEC - 300_000, label: "plain" });
  await writeRun(hostileDir, {
    id: HOSTILE,
    exit: 0,
    started: NOW_SEC - 200_000,
    label: `<img src=x onerror="${PAYLOAD}">`,
    flags: { "<b onmouseover=alert(1)>": `<script>${PAYLOAD}</script>` },
    attrs: { note: `<svg onload="${PAYLOAD}">` },
    files: {
      [`<script>${PAYLOAD}<!--.txt`]: "named to run script\n",
      "report.html": `<html><body><script>${PAYLOAD}</script><img src=x onerror="${PAYLOAD}"></body></html>`,
      "figure.svg": `<svg xmlns="http://www.w3.org/2000/svg" onload="${PAYLOAD}"><script>${PAYLOAD}</script></svg>`,
    },
    output: `<script>${PAYLOAD}</script>\n`,
  });
  // The stores get the runs before any test comments on them: each story starts alike.
  folderStore = join(tmp.path, "store");
  const folder = await openStorage(folderStore);
  await push({ runsDir, remote: folder });
  await folder.close();
  s3 = await startS3rver();
  const bucket = await openStorage(s3.url("team"), { env: s3.env });
  await push({ runsDir, remote: bucket });
  await bucket.close();
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await s3?.stop();
  tmp.cleanup();
});

async function serving(source: RunSource, body: (server: RunningServer) => Promise<void>): Promise<void> {
  const server = await startServer({ source, port: 0, author: "tester", assetsDir: webAssets() });
  try {
    await body(server);
  } finally {
    await server.close();
    await source.close();
  }
}

async function newPage(width = 1280, height = 800): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height }, colorScheme: "light" });
  page.on("pageerror", (err) => assert.fail(`page error: ${err.message}`));
  return page;
}

/** What a user does: table, filter, a run with its image and output, a comment kept across a reload, a comparison. */
async function userStory(server: RunningServer, shots: boolean): Promise<void> {
  const page = await newPage();
  await page.goto(server.url);
  const rows = page.locator("table.grid tbody tr");
  await rows.first().waitFor();
  assert.equal(await rows.count(), runs.length);
  assert.equal(await page.locator("tbody tr").nth(0).locator(".status").innerText(), "running");
  // Columns a user adds from flags and attributes, then sorts by.
  await page.locator("button", { hasText: "Columns" }).click();
  await page.locator(".picker-menu label", { hasText: /^\s*lr$/ }).locator("input").check();
  await page.locator(".picker-menu label", { hasText: "batch_size" }).locator("input").check();
  await page.locator(".picker-menu label", { hasText: "val_loss" }).locator("input").check();
  await page.locator("button", { hasText: "Columns" }).click();
  await page.locator("th.col-extra button", { hasText: "val_loss" }).click();
  await page.waitForFunction(() => document.querySelector("th.col-extra[aria-sort]") !== null || location.hash.includes("sort=attr"));
  await page.waitForFunction(() => document.querySelector("tbody tr td.label")?.textContent === "best so far");
  assert.deepEqual((await rows.first().locator("td.mono").allInnerTexts()).slice(1), ["0.005", "64", "0.1668"]);
  // Keyboard: j moves down, k up, x selects the row under the cursor.
  await page.locator("h1, .pager").first().click();
  for (const key of ["j", "j", "j", "j", "k", "x", "j", "j", "x"]) await page.keyboard.press(key);
  await page.waitForFunction(() => document.querySelectorAll("tbody tr.selected").length === 2);
  assert.deepEqual(
    await page.locator("tbody tr").evaluateAll((trs) => trs.flatMap((tr, i) => (tr.classList.contains("selected") ? [i] : []))),
    [3, 5],
  );
  assert.equal(await page.locator("tbody tr.cursor").getAttribute("data-row"), "5");
  assert.equal(await page.locator("button.primary", { hasText: "Compare" }).innerText(), "Compare 2");
  if (shots) {
    await page.screenshot({ path: join(SHOTS, "serve-runs.png") });
  }
  await page.locator("button", { hasText: "Clear" }).click();

  // Filter with --where syntax; the keyboard opens the first match.
  await page.fill("input[type=search]", "label~best");
  await page.press("input[type=search]", "Enter");
  await page.waitForFunction(() => document.querySelectorAll("table.grid tbody tr").length === 1);
  const best = runs.find((r) => r.lr === 0.005)!;
  assert.equal(await rows.first().locator("td.label").innerText(), "best so far");
  await page.locator("main").click({ position: { x: 5, y: 5 } });
  await page.keyboard.press("Enter");
  await page.waitForURL(new RegExp(`#/runs/${best.id}`));

  // The run page: status, flags, the image, the output, comments.
  await page.locator(".facts").waitFor();
  assert.equal(await page.locator(".run-head .status").innerText(), "completed");
  assert.match(await page.locator("table.kv").first().innerText(), /lr\s+0\.005/);
  await page.locator("pre.log", { hasText: "epoch 20/20  loss=" }).waitFor();
  await page.locator("button.file", { hasText: "loss.png" }).click();
  const img = page.locator(".preview img");
  await img.waitFor();
  await page.waitForFunction(() => (document.querySelector(".preview img") as HTMLImageElement | null)?.naturalWidth === 560);
  assert.equal(await page.locator(".comment").count(), 2);
  await page.fill(".comment-form textarea", "Looks converged. <b>ship it</b>");
  await page.locator(".comment-form button[type=submit]").click();
  await page.locator(".comment", { hasText: "ship it" }).waitFor();
  await page.reload();
  await page.locator(".comment", { hasText: "Looks converged. <b>ship it</b>" }).waitFor();
  assert.equal(await page.locator(".comment").count(), 3);
  assert.match(await page.locator(".comment").last().innerText(), /^tester/);
  if (shots) {
    await page.locator("button.file", { hasText: "metrics.csv" }).click();
    await page.locator(".preview table").waitFor();
    await page.locator("button.file", { hasText: "loss.png" }).click();
    await page.waitForFunction(() => (document.querySelector(".preview img") as HTMLImageElement | null)?.naturalWidth === 560);
    await page.setViewportSize({ width: 1280, height: 1000 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(SHOTS, "serve-run.png") });
    await page.setViewportSize({ width: 1280, height: 800 });
  }

  // Back to the table: select two runs and compare them.
  await page.goto(server.url);
  await rows.nth(runs.length - 1).waitFor();
  const a = runs.find((r) => r.lr === 0.1)!;
  const b = runs.find((r) => r.lr === 0.005)!;
  await page.locator(`tr:has(a[href="#/runs/${a.id}"]) input[type=checkbox]`).check();
  await page.locator(`tr:has(a[href="#/runs/${b.id}"]) input[type=checkbox]`).check();
  await page.locator("button", { hasText: "Compare" }).click();
  await page.locator(".compare-table").waitFor();
  const lrRow = page.locator(".compare-table tr", { has: page.locator("th", { hasText: /^≠?\s*lr$/ }) });
  assert.equal(await lrRow.getAttribute("class"), "diff");
  assert.deepEqual(await lrRow.locator("td").allInnerTexts(), ["0.1", "0.005"]);
  const epochsRow = page.locator(".compare-table tr", { has: page.locator("th", { hasText: /^epochs$/ }) });
  assert.equal(await epochsRow.getAttribute("class"), "");
  await page.waitForFunction(() => [...document.querySelectorAll(".side-by-side img")].filter((i) => (i as HTMLImageElement).naturalWidth === 560).length === 2);
  if (shots) {
    await page.setViewportSize({ width: 1280, height: 1460 });
    await page.screenshot({ path: join(SHOTS, "serve-compare.png") });
  }
  await page.close();
}

describe("the web view in chromium", () => {
  test("over a local runs directory (and the screenshots for docs/img)", async () => {
    mkdirSync(SHOTS, { recursive: true });
    await serving(new RunsDirSource(runsDir), (server) => userStory(server, true));
    for (const name of ["serve-runs.png", "serve-run.png", "serve-compare.png"]) {
      assert.equal(readFileSync(join(SHOTS, name)).subarray(1, 4).toString("latin1"), "PNG", name);
    }
  });

  test("over a folder store", async () => {
    const storage = await openStorage(folderStore);
    await serving(new StoreSource(storage, { ownsStorage: true }), (server) => userStory(server, false));
  });

  test("over an S3 store (s3rver)", async () => {
    const storage = await openStorage(s3!.url("team"), { env: s3!.env });
    await serving(new StoreSource(storage, { ownsStorage: true }), (server) => userStory(server, false));
  });

  test("a hostile run executes nothing", async () => {
    await serving(new RunsDirSource(hostileDir), async (server) => {
      const page = await newPage();
      await page.goto(server.url);
      const row = page.locator(`tr:has(a[href="#/runs/${HOSTILE}"])`);
      await row.waitFor();
      assert.equal(await row.locator("td.label").innerText(), `<img src=x onerror="${PAYLOAD}">`, "the label is text");
      await row.locator("a").click();
      await page.locator(".facts").waitFor();
      assert.match(await page.locator("table.kv").first().innerText(), /<b onmouseover=alert\(1\)>/);
      await page.locator("pre.log", { hasText: "<script>" }).waitFor();
      for (const name of [`<script>${PAYLOAD}<!--.txt`, "report.html", "figure.svg"]) {
        await page.locator("button.file", { hasText: name }).click();
        // The preview of this file (the last one's stays until the click is rendered).
        const preview = page.locator(".preview", { has: page.locator(".path", { hasText: name }) }).locator("pre");
        await preview.waitFor();
        assert.match(await preview.innerText(), name.endsWith(".txt") ? /named to run script/ : /<script>/);
      }
      await page.goto(`${server.url}#/compare/${HOSTILE},${PLAIN}`);
      await page.locator(".compare-table").waitFor();
      await page.waitForTimeout(300);
      assert.equal(await page.evaluate(() => (window as { __pwned?: number }).__pwned), undefined);
      assert.equal(await page.locator("img[src=x]").count(), 0);
      // Opened directly, the files are downloads: the page never renders them.
      for (const name of ["report.html", "figure.svg"]) {
        const res = await page.request.get(`${server.url}api/runs/${HOSTILE}/files/${name}`);
        assert.equal(res.headers()["content-disposition"], `attachment; filename*=UTF-8''${name}`);
        assert.equal(res.headers()["content-type"], "application/octet-stream");
      }
      const traversal = await page.evaluate(async (id) => (await fetch(`api/runs/${id}/files/%2e%2e/%2e%2e/etc/passwd`)).status, HOSTILE);
      assert.equal(traversal, 404);
      assert.equal(await page.evaluate(() => (window as { __pwned?: number }).__pwned), undefined);
      await page.close();
    });
  });

  test("a login page guards a server with a token", async () => {
    const server = await startServer({ source: new RunsDirSource(runsDir), port: 0, token: "sesame-123", author: "tester", assetsDir: webAssets() });
    try {
      const page = await newPage();
      await page.goto(server.url);
      await page.waitForURL(/\/login$/);
      await page.fill("input[name=token]", "wrong");
      await page.click("button[type=submit]");
      await page.locator(".error", { hasText: "not valid" }).waitFor();
      await page.fill("input[name=token]", "sesame-123");
      await page.fill("input[name=name]", "Ada");
      await page.click("button[type=submit]");
      await page.locator("table.grid tbody tr").first().waitFor();
      const cookies = await page.context().cookies();
      assert.equal(cookies.length, 1);
      assert.deepEqual([cookies[0]!.httpOnly, cookies[0]!.sameSite], [true, "Strict"]);
      assert.equal(await page.evaluate(() => document.cookie), "", "scripts cannot read the session");
      await page.close();
    } finally {
      await server.close();
    }
  });
});
