import { lstat, readFile } from "node:fs/promises";
import { join } from "node:path";
import { RunMetaError } from "./errors.js";
import { runMetaDir, type Run } from "./run.js";

/** A `manifest` line: `{type} {sha256} {path}` (docs/gage-format.md §5). */
export interface ManifestEntry {
  /** `s` source, `r` runtime, `d` dependency, `g` generated. */
  type: string;
  sha256: string;
  path: string;
}

/** Parses a run manifest (splits each line on its first two spaces). */
export function parseManifest(text: string, path = "manifest"): ManifestEntry[] {
  const out: ManifestEntry[] = [];
  text.split("\n").forEach((line, i) => {
    if (line === "") return;
    const a = line.indexOf(" ");
    const b = a < 0 ? -1 : line.indexOf(" ", a + 1);
    if (a < 0 || b < 0) throw new RunMetaError(path, `Invalid manifest entry in ${path}, line ${i + 1}`);
    out.push({ type: line.slice(0, a), sha256: line.slice(a + 1, b), path: line.slice(b + 1) });
  });
  return out;
}

/** What `gage show` adds to a listed run: exit code, config, manifest with file sizes. */
export interface RunDetails {
  exitCode: number | undefined;
  config: Record<string, unknown>;
  files: Array<ManifestEntry & { size: number | undefined }>;
}

async function readMaybe(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new RunMetaError(path, `Cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

export async function readRunDetails(run: Run): Promise<RunDetails> {
  const meta = runMetaDir(run);
  const exitText = await readMaybe(join(meta, "proc", "exit"));
  const exitCode = exitText === undefined || !/^-?\d+$/.test(exitText.trim()) ? undefined : Number(exitText.trim());
  const configPath = join(meta, "config.json");
  const configText = await readMaybe(configPath);
  let config: Record<string, unknown> = {};
  if (configText !== undefined) {
    try {
      config = JSON.parse(configText) as Record<string, unknown>;
    } catch (err) {
      throw new RunMetaError(configPath, `Invalid JSON in ${configPath}`, { cause: err });
    }
  }
  const manifestPath = join(meta, "manifest");
  const manifest = parseManifest((await readMaybe(manifestPath)) ?? "", manifestPath);
  const files = await Promise.all(
    manifest.map(async (e) => {
      try {
        return { ...e, size: (await lstat(join(run.paths.runDir, e.path))).size };
      } catch {
        // The manifest lists a file the run directory no longer has: show it without a size.
        return { ...e, size: undefined };
      }
    }),
  );
  return { exitCode, config, files };
}
