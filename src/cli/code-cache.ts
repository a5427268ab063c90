import { isAscii } from "node:buffer";
import { hash } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import Module, { createRequire } from "node:module";
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

/** As CommonJS runs a module: its source in Node's function of what `require` hands it. */
function compile(file: string, source: string, cachedData?: Buffer): Script {
  return new Script(Module.wrap(source), { filename: file, ...(cachedData === undefined ? {} : { cachedData }) });
}

/**
 * A bundle's text and SHA-256: read as bytes and hashed once; decoded as latin1 when it is ASCII,
 * as the build leaves it (a one-byte string, several times faster to make than by UTF-8).
 */
function readBundle(file: string): { source: string; sha: Buffer } {
  const bytes = readFileSync(file);
  return { source: bytes.toString(isAscii(bytes) ? "latin1" : "utf8"), sha: hash("sha256", bytes, "buffer") };
}

/** The cache's V8 data when it was made from the source whose digest is `sha`, else undefined. */
function cacheFor(cacheFile: string, sha: Buffer): Buffer | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(cacheFile);
  } catch {
    return undefined;
  }
  if (bytes.length <= HEADER || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const made = bytes.subarray(MAGIC.length, HEADER);
  return made.equals(sha) ? bytes.subarray(HEADER) : undefined;
}

/** Runs a compiled bundle as `require` would and returns its exports. */
function run(script: Script, file: string): Record<string, unknown> {
  const module = { exports: {} as Record<string, unknown> };
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper.call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  return module.exports;
}

/** Runs the CommonJS bundle `file` as `require` would, with its code cache when it fits. */
export function loadBundle(file: string): LoadedBundle {
  const { source, sha } = readBundle(file);
  const cachedData = cacheFor(`${file}.cache`, sha);
  const script = compile(file, source, cachedData);
  return { exports: run(script, file), cached: cachedData !== undefined && !script.cachedDataRejected };
}

/**
 * Writes the code cache of the bundle `file` beside it (atomically: a reader sees the old or the
 * new). With `warm`, the cache is made after `warm` has run the bundle's exports: V8 then keeps
 * the code of every function that ran, which a start otherwise compiles again on first call.
 */
export async function writeCodeCache(file: string, warm?: (exports: Record<string, unknown>) => Promise<void>): Promise<void> {
  const { source, sha } = readBundle(file);
  const script = compile(file, source);
  if (warm !== undefined) await warm(run(script, file));
  const data = script.createCachedData();
  const temp = `${file}.cache.${process.pid}.tmp`;
  writeFileSync(temp, Buffer.concat([MAGIC, sha, data]));
  renameSync(temp, `${file}.cache`);
}
