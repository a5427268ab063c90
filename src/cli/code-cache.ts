import { hash } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { Script } from "node:vm";

/**
 * The `gage` command is one CommonJS bundle (dist/bundle/cli.cjs) run through `vm.Script` with a
 * V8 code cache made when it was built (`writeCodeCache`, beside it as `cli.cjs.cache`): Node 20
 * has no code cache for ES modules, and parsing the command's modules was a fifth of a no-change
 * push (docs/performance.md, "Starting the command").
 *
 * The cache file is MAGIC, the SHA-256 of the bundle it was made from, then V8's data. It is used
 * only for that exact source: V8 itself checks its own version and flags, but of the source only
 * its length, so a bundle rebuilt to the same length would run the old code. Anything else (no
 * file, another source, a cache V8 rejects) compiles the bundle as Node would.
 */
const MAGIC = Buffer.from("GAGEV8C1");
const HEADER = MAGIC.length + 32;

export interface LoadedBundle {
  exports: Record<string, unknown>;
  /** Whether the code cache was used (V8 accepted it). */
  cached: boolean;
}

/** As CommonJS runs a module: its source in a function of what `require` hands it. */
function compile(file: string, source: string, cachedData?: Buffer): Script {
  return new Script(`(function (exports, require, module, __filename, __dirname) { ${source}\n})`, { filename: file, ...(cachedData === undefined ? {} : { cachedData }) });
}

/** The cache's V8 data when it was made from `source`, else undefined. */
function cacheFor(cacheFile: string, source: string): Buffer | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(cacheFile);
  } catch {
    return undefined;
  }
  if (bytes.length <= HEADER || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const made = bytes.subarray(MAGIC.length, HEADER);
  return made.equals(hash("sha256", source, "buffer")) ? bytes.subarray(HEADER) : undefined;
}

/** Runs the CommonJS bundle `file` as `require` would, with its code cache when it fits. */
export function loadBundle(file: string): LoadedBundle {
  const source = readFileSync(file, "utf8");
  const cachedData = cacheFor(`${file}.cache`, source);
  const script = compile(file, source, cachedData);
  const module = { exports: {} as Record<string, unknown> };
  const run = script.runInThisContext() as (...args: unknown[]) => void;
  run.call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  return { exports: module.exports, cached: cachedData !== undefined && !script.cachedDataRejected };
}

/** Writes the code cache of the bundle `file` beside it (atomically: a reader sees the old or the new). */
export function writeCodeCache(file: string): void {
  const source = readFileSync(file, "utf8");
  const data = compile(file, source).createCachedData();
  const temp = `${file}.cache.${process.pid}.tmp`;
  writeFileSync(temp, Buffer.concat([MAGIC, hash("sha256", source, "buffer"), data]));
  renameSync(temp, `${file}.cache`);
}
