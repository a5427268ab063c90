#!/usr/bin/env node
// libuv sizes its thread pool on first use, from this variable: 4 threads by default, few for
// copies of many small files (every file is several fs calls). Node 20's ES loader has used the
// pool to read this file already, so the line takes effect only where the loader reads it
// synchronously; a user who wants it sets the variable before gage starts.
process.env.UV_THREADPOOL_SIZE ??= "16";
import { fileURLToPath } from "node:url";
import { loadBundle } from "./code-cache.js";

// The command itself is dist/bundle/cli.cjs, run with its code cache (src/cli/code-cache.ts).
const { main } = loadBundle(fileURLToPath(new URL("./cli.cjs", import.meta.url))).exports as { main: (argv: string[]) => Promise<number> };
process.exitCode = await main(process.argv.slice(2));
