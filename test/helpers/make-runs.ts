import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** A finished run's files: path relative to `ID/` (a string or raw bytes, for names that are not UTF-8) → contents. */
export type RunFiles = Array<[string | Buffer, string]>;

/**
 * Writes a completed Gage run (schema 1 meta, a manifest of its files) into `runsDir`, as the
 * runner leaves one, with `id` as its id. Paths may be raw bytes: on Linux a file name is bytes.
 */
export function makeRun(runsDir: string, id: string, files: RunFiles, opts: { label?: string; started?: number } = {}): void {
  const runDir = join(runsDir, id);
  const metaDir = join(runsDir, `${id}.meta`);
  mkdirSync(runDir, { recursive: true });
  mkdirSync(join(metaDir, "proc"), { recursive: true });
  const manifest: string[] = [];
  for (const [path, text] of files) {
    const full = typeof path === "string" ? join(runDir, path) : Buffer.concat([Buffer.from(`${runDir}/`), path]);
    const parent = typeof path === "string" ? join(runDir, path, "..") : join(runDir, path.subarray(0, Math.max(0, path.lastIndexOf("/"))).toString());
    mkdirSync(parent, { recursive: true });
    writeFileSync(full, text);
    if (typeof path === "string") manifest.push(`s ${createHash("sha256").update(text).digest("hex")} ${path}`);
  }
  const started = opts.started ?? 1_795_678_950_000_000;
  const meta: Record<string, string> = {
    __schema__: "1",
    id,
    opref: "1 proj hello",
    initialized: String(started - 1000),
    staged: String(started - 500),
    started: String(started),
    stopped: String(started + 1_000_000),
    "proc/exit": "0",
    manifest: manifest.join("\n") + (manifest.length > 0 ? "\n" : ""),
  };
  for (const [name, text] of Object.entries(meta)) writeFileSync(join(metaDir, name), text);
  if (opts.label !== undefined) {
    mkdirSync(join(runsDir, `${id}.user`), { recursive: true });
    const entry = { author: "test", set: { label: opts.label }, delete: [] };
    writeFileSync(join(runsDir, `${id}.user`, "01a216ce-5539-473b-a801-d855d8b0ba93.json"), JSON.stringify(entry));
  }
}

export const RUN_A = "aaaaaaaa-1111-4111-8111-111111111111";
export const RUN_B = "bbbbbbbb-2222-4222-8222-222222222222";
export const RUN_C = "cccccccc-3333-4333-8333-333333333333";
