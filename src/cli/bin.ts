#!/usr/bin/env node
import { fileURLToPath } from "node:url";
import { loadBundle } from "./code-cache.js";

// The command itself is dist/bundle/cli.cjs, run with its code cache (src/cli/code-cache.ts).
const { main } = loadBundle(fileURLToPath(new URL("./cli.cjs", import.meta.url))).exports as { main: (argv: string[]) => Promise<number> };
process.exitCode = await main(process.argv.slice(2));
