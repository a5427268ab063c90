#!/usr/bin/env node
// libuv sizes its thread pool on first use, so this must run before any asynchronous fs call.
// The default of 4 threads starves copies of many small files, where every file is several fs
// calls (open, write, fsync, rename, chmod).
process.env.UV_THREADPOOL_SIZE ??= "16";
import { fileURLToPath } from "node:url";
import { loadBundle } from "./code-cache.js";

// The command itself is dist/bundle/cli.cjs, run with its code cache (src/cli/code-cache.ts).
const { main } = loadBundle(fileURLToPath(new URL("./cli.cjs", import.meta.url))).exports as { main: (argv: string[]) => Promise<number> };
process.exitCode = await main(process.argv.slice(2));
