#!/usr/bin/env node
import { fileURLToPath } from "node:url";
import { loadBundle } from "./code-cache.js";

// The command itself is dist/bundle/cli.cjs, run with its code cache (src/cli/code-cache.ts). This
// file is bundled as CommonJS too (dist/bundle/gage.cjs): an ES entry starts Node's ES loader first.
const { main } = loadBundle(fileURLToPath(new URL("./cli.cjs", import.meta.url))).exports as { main: (argv: string[]) => Promise<number> };
void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
