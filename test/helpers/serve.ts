/**
 * Helpers for `gage serve` tests: the front end built once per process (scripts/web-bundle.mjs),
 * Gage runs written as Gage writes them, a server on 127.0.0.1 and a free port, and raw HTTP
 * requests (fetch folds `..` away; a raw request sends the target as written).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { appendUserLog } from "../../src/runs/user-log.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
let built: string | undefined;

/** The front end, bundled into a temporary folder (once per test process). */
export function webAssets(): string {
  if (built === undefined) {
    const dir = mkdtempSync(join(tmpdir(), "gage-web-"));
    // Removed with the test process that built it (each left a folder in the system's temp before).
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    execFileSync(process.execPath, [join(ROOT, "scripts/web-bundle.mjs"), dir], { stdio: "pipe" });
    built = dir;
  }
  return built;
}

export interface RunSpec {
  id: string;
  op?: string;
  /** Exit code; undefined: a running run (a lock file). */
  exit?: number;
  /** Epoch seconds. */
  started: number;
  seconds?: number;
  flags?: Record<string, unknown>;
  files?: Record<string, string | Buffer>;
  output?: string;
  label?: string;
  attrs?: Record<string, unknown>;
  author?: string;
}

/** Writes a run as Gage does (meta schema 1), its label and attributes as user log entries. */
export async function writeRun(runsDir: string, spec: RunSpec): Promise<void> {
  const meta = join(runsDir, `${spec.id}.meta`);
  const put = (path: string, data: string | Buffer) => {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, data);
  };
  const us = (s: number) => String(Math.round(s * 1e6));
  put(join(meta, "__schema__"), "1");
  put(join(meta, "id"), spec.id);
  put(join(meta, "opref"), `1 gage ${spec.op ?? "train"}`);
  put(join(meta, "config.json"), JSON.stringify(spec.flags ?? {}));
  put(join(meta, "initialized"), us(spec.started - 1));
  put(join(meta, "staged"), us(spec.started - 0.5));
  put(join(meta, "started"), us(spec.started));
  if (spec.exit === undefined) put(join(meta, "proc", "lock"), "4242");
  else {
    put(join(meta, "stopped"), us(spec.started + (spec.seconds ?? 12.5)));
    put(join(meta, "proc", "exit"), String(spec.exit));
  }
  put(join(meta, "proc", "cmd.json"), JSON.stringify(["python", "-um", spec.op ?? "train"]));
  put(join(meta, "proc", "env.json"), JSON.stringify({ PATH: "/usr/bin", GAGE_RUN: spec.id }));
  put(join(meta, "sys", "platform.json"), JSON.stringify({ system: "Linux", machine: "x86_64", python: "3.11.2" }));
  put(join(meta, "output", "40_run"), spec.output ?? "");
  const files = spec.files ?? {};
  const manifest: string[] = [];
  for (const [path, data] of Object.entries(files)) {
    put(join(runsDir, spec.id, path), data);
    manifest.push(`g 0 ${path}`);
  }
  mkdirSync(join(runsDir, spec.id), { recursive: true });
  put(join(meta, "manifest"), manifest.join("\n"));
  const set: Record<string, unknown> = { ...(spec.attrs ?? {}) };
  if (spec.label !== undefined) set.label = spec.label;
  if (Object.keys(set).length > 0) {
    await appendUserLog(join(runsDir, `${spec.id}.user`), { set }, { author: spec.author ?? "alice", nowMs: spec.started * 1000 + 60_000 });
  }
}

/** A 1x1 PNG (red). */
export const PNG = Buffer.from(
  "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8cfc0000003010100c9fe92ef0000000049454e44ae426082",
  "hex",
);

/** A small set of runs: two trainings with an image, CSV and logs, one failed, one running. */
export async function sampleRuns(runsDir: string): Promise<{ a: string; b: string; c: string; d: string }> {
  const a = "11111111-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
  const b = "22222222-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
  const c = "33333333-cccc-4ccc-8ccc-cccccccccccc";
  const d = "44444444-dddd-4ddd-8ddd-dddddddddddd";
  const t0 = 1_760_000_000;
  await writeRun(runsDir, {
    id: a,
    exit: 0,
    started: t0,
    flags: { lr: 0.1, epochs: 10 },
    label: "baseline",
    attrs: { loss: 0.42 },
    files: { "plots/loss.png": PNG, "metrics.csv": "step,loss\n1,0.9\n2,0.42\n", "train.py": "print('hello')\n", "nested/deep/notes.txt": "deep\n" },
    output: "epoch 1 loss 0.9\nepoch 2 loss 0.42\n",
  });
  await writeRun(runsDir, {
    id: b,
    exit: 0,
    started: t0 + 100,
    flags: { lr: 0.01, epochs: 10 },
    label: "smaller lr",
    attrs: { loss: 0.31 },
    files: { "plots/loss.png": PNG, "metrics.csv": "step,loss\n1,0.8\n2,0.31\n", "train.py": "print('hello')\n" },
    output: "epoch 1 loss 0.8\nepoch 2 loss 0.31\n",
  });
  await writeRun(runsDir, { id: c, op: "prepare", exit: 1, started: t0 + 200, output: "Traceback: something went wrong\n" });
  await writeRun(runsDir, { id: d, op: "train", started: t0 + 300, flags: { lr: 0.5 } });
  return { a, b, c, d };
}

/** `sampleRuns`' runs as the runs table lists them, newest first: `[id, status, label]`. */
export function sampleRows(ids: { a: string; b: string; c: string; d: string }): Array<[string, string, string | null]> {
  return [
    [ids.d, "running", null],
    [ids.c, "error", null],
    [ids.b, "completed", "smaller lr"],
    [ids.a, "completed", "baseline"],
  ];
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One HTTP request with the target sent exactly as given. */
export function rawRequest(
  port: number,
  method: string,
  target: string,
  opts: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path: target, headers: { Host: `127.0.0.1:${port}`, ...opts.headers } }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (b: Buffer) => parts.push(b));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

export function json(res: RawResponse): any {
  return JSON.parse(res.body.toString("utf8"));
}
