import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { encodeChunkList, encodeTree, hashBytes, PackWriter, type ChunkRef, type ObjectId, type TreeEntry } from "../../src/objects/index.js";
import { encodePackIndex, type PackIndexEntry } from "../../src/objects/pack.js";
import { LocalStorage } from "../../src/remotes/local/index.js";
import { encodeHead, type HeadEntry } from "../../src/sync/heads.js";
import { baseEnv, GAGE_BIN, type GageResult } from "../helpers/cli.js";

/** Writes the memory report of a child `gage` at exit (`GAGE_TEST_RSS_FILE`), in KiB. */
const RSS_PRELOAD = fileURLToPath(new URL("./report-rss.mjs", import.meta.url));

export interface MeasuredResult extends GageResult {
  /** Peak resident memory of the child, MiB. */
  peakMiB: number;
}

/** Runs the built `gage` with `args` and reports its peak memory as well as its output. */
export async function gageMeasured(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<MeasuredResult> {
  const rssFile = join(tmpdir(), `gage-rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const child = spawn(process.execPath, ["--import", RSS_PRELOAD, GAGE_BIN, ...args], { env: baseEnv({ ...env, GAGE_TEST_RSS_FILE: rssFile }) });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.stdin.end();
  const code = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`gage ${args.join(" ")} did not finish in ${timeoutMs} ms (a hang)\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on("close", (c) => (clearTimeout(timer), resolve(c ?? -1)));
  });
  let peakMiB = NaN;
  try {
    peakMiB = Number(readFileSync(rssFile, "utf8")) / 1024;
    rmSync(rssFile);
  } catch {
    // the child died before its exit handler ran: asserted on by the caller through `code`
  }
  return { code, stdout, stderr, peakMiB };
}

/** A refusal as the user sees it: the exit status, a `gage:` line naming `what`, no stack trace. */
export function assertRefused(r: GageResult & { peakMiB?: number }, exit: number, what: RegExp, maxMiB = 400): void {
  const shown = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.equal(r.code, exit, shown);
  assert.doesNotMatch(r.stderr, /^\s+at /m, `no stack trace\n${shown}`);
  const line = r.stderr.split("\n").find((l) => l.startsWith("gage: "));
  assert.ok(line !== undefined, `a gage: line\n${shown}`);
  assert.match(line, what, shown);
  if (r.peakMiB !== undefined) assert.ok(r.peakMiB < maxMiB, `peak memory ${r.peakMiB.toFixed(0)} MiB, over ${maxMiB}`);
}

/** A lower-case UUID for test runs (`n` picks it). */
export const runIdOf = (n: number): string => `${n.toString(16).padStart(8, "0")}-1111-4111-8111-111111111111`;

/** A small finished Gage run written by hand: its files, and meta whose `id` file says `metaId`. */
export function writeRun(runsDir: string, id: string, opts: { metaId?: string; files?: Record<string, string> } = {}): void {
  const files = opts.files ?? { "hello.py": "print('hello')\n" };
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(runsDir, id, name)), { recursive: true });
    writeFileSync(join(runsDir, id, name), text);
  }
  mkdirSync(join(runsDir, id), { recursive: true });
  const meta = join(runsDir, `${id}.meta`);
  mkdirSync(join(meta, "proc"), { recursive: true });
  writeFileSync(join(meta, "__schema__"), "1");
  writeFileSync(join(meta, "id"), opts.metaId ?? id);
  writeFileSync(join(meta, "opref"), "1 proj hello");
  writeFileSync(join(meta, "initialized"), "1700000000000000");
  writeFileSync(join(meta, "started"), "1700000001000000");
  writeFileSync(join(meta, "proc", "exit"), "0");
}

const file = (name: string, data: Buffer, id = hashBytes(data)): TreeEntry => ({ name, kind: "file", mode: 0o644, size: data.length, id });

/**
 * A store written object by object, as someone who read docs/formats.md could: objects through a
 * `PackWriter`, then heads naming whatever trees the test makes. Nothing checks it is sensible.
 */
export class CraftedStore {
  readonly storage: LocalStorage;
  readonly #writer: PackWriter;

  constructor(
    readonly root: string,
    opts: { compress?: boolean } = {},
  ) {
    this.storage = new LocalStorage(root);
    this.#writer = new PackWriter(this.storage, { compress: opts.compress ?? false });
  }

  async blob(data: Buffer): Promise<ObjectId> {
    const id = hashBytes(data);
    await this.#writer.add(id, data);
    return id;
  }

  async tree(entries: TreeEntry[]): Promise<ObjectId> {
    return this.blob(encodeTree({ entries: [...entries].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name))) }));
  }

  async fileEntry(name: string, text: string | Buffer): Promise<TreeEntry> {
    const data = Buffer.from(text);
    await this.blob(data);
    return file(name, data);
  }

  dirEntry(name: string, id: ObjectId): TreeEntry {
    return { name, kind: "dir", mode: 0o755, size: 0, id };
  }

  /** A chunked file entry whose chunk list is `chunks` (their objects written by the caller). */
  async chunkedEntry(name: string, size: number, fileId: ObjectId, chunks: ChunkRef[]): Promise<TreeEntry> {
    const list = await this.blob(encodeChunkList({ size, chunks }));
    return { ...file(name, Buffer.alloc(0), fileId), size, chunks: list };
  }

  /** A finished run's meta tree, whose `id` file says `metaId`. */
  async metaTree(metaId: string): Promise<ObjectId> {
    const proc = await this.tree([await this.fileEntry("exit", "0")]);
    return this.tree([
      await this.fileEntry("__schema__", "1"),
      await this.fileEntry("id", metaId),
      await this.fileEntry("initialized", "1700000000000000"),
      await this.fileEntry("opref", "1 proj hello"),
      this.dirEntry("proc", proc),
      await this.fileEntry("started", "1700000001000000"),
    ]);
  }

  /** Stores the objects written so far, then one head naming `runs` (run id → its trees). */
  async head(runs: Array<{ runId: string; files: ObjectId; meta: ObjectId }>, nowMs = Date.now()): Promise<string> {
    await this.#writer.flush();
    const entries: HeadEntry[] = runs.map((r) => ({
      runId: r.runId,
      run: { tree: r.files, prior: [] },
      meta: { tree: r.meta, prior: [] },
      user: {},
      summary: { operation: "proj:hello", status: "completed", started: 1700000001000000 },
    }));
    return this.rawHead(entries, nowMs);
  }

  /** Writes head entries as they are (no objects flushed). */
  async rawHead(entries: HeadEntry[], nowMs = Date.now()): Promise<string> {
    const { key, bytes } = encodeHead(entries, nowMs);
    await this.storage.put(key, bytes);
    return key;
  }

  /** Writes a pack holding `bytes` and an index listing `entries` in it; returns the pack id. */
  async rawPack(bytes: Buffer, entries: PackIndexEntry[]): Promise<ObjectId> {
    const packId = hashBytes(bytes);
    mkdirSync(join(this.root, "packs"), { recursive: true });
    writeFileSync(join(this.root, "packs", `${packId}.pack`), bytes);
    writeFileSync(join(this.root, "packs", `${packId}.idx`), encodePackIndex(packId, entries));
    return packId;
  }
}

/** A fresh folder `name` under `base`. */
export function freshDir(base: string, name: string): string {
  const dir = join(base, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}
