#!/usr/bin/env node
// Writes the `gage` command's V8 code cache for this Node (src/cli/code-cache.ts) when the bundle
// is there: npm runs it at install, where Node may not be the one that built the package (V8
// would reject that cache, and the command would compile as without one).
import { existsSync } from "node:fs";

const cli = new URL("../dist/bundle/cli.cjs", import.meta.url).pathname;
const helper = new URL("../dist/cli/code-cache.js", import.meta.url);
if (existsSync(cli) && existsSync(helper.pathname)) {
  try {
    const { loadBundle, writeCodeCache } = await import(helper.href);
    // The build's cache, made after a workload (scripts/code-cache-workload.mjs), is kept when this Node takes it.
    if (!loadBundle(cli).cached) await writeCodeCache(cli);
  } catch (err) {
    console.warn(`gage-sync: no code cache written (${err.message}); gage starts a little slower.`);
  }
}
