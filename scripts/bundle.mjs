#!/usr/bin/env node
// Bundles the library entry, the worker threads and the `gage` command into dist/bundle/ (after
// `tsc`, which writes the types and the module-per-file build under dist/). Node's ESM loader
// costs about a millisecond per module file: a no-change push loaded 76 of them, a third of its
// time before any work. The library is an ES build in a handful of chunks, each worker thread one
// ES file; the command is one CommonJS file with a V8 code cache (docs/performance.md, "Starting the command").
//
// Everything lives in one folder two levels under the package, as every dist/ROOM/ does, so the
// paths our modules resolve from their own URL hold unchanged: worker scripts beside them
// ("./snapshot-worker.js"), the native addon ("../../native/..."), package.json ("../../").
import { build } from "esbuild";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { codeCacheWorkload } from "./code-cache-workload.mjs";
import { buildWeb } from "./web-bundle.mjs";

const root = new URL("..", import.meta.url).pathname;
const outdir = `${root}dist/bundle`;
rmSync(outdir, { recursive: true, force: true });

const common = {
  absWorkingDir: root,
  outdir,
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: true,
  // Loaded only with an S3 or SSH remote, large, and with optional native parts: left to Node.
  external: ["@aws-sdk/*", "ssh2"],
  // CommonJS dependencies bundled into ES modules still call require() for Node's builtins.
  banner: { js: 'import { createRequire as __gageCreateRequire } from "node:module"; const require = __gageCreateRequire(import.meta.url);' },
  logLevel: "warning",
};

// Split: what a command imports lazily stays in chunks of its own (one file of every module took
// longer to parse than the separate files took to load).
await build({
  ...common,
  entryPoints: {
    index: "src/index.ts",
    // The object store and run-folder rooms alone, as bench/snapshot-runs.mjs measures them.
    objects: "src/objects/index.ts",
    worktree: "src/worktree/index.ts",
  },
  splitting: true,
  chunkNames: "chunk-[hash]",
});
// Each worker thread is one file of its own: sharing chunks with the entries above cut their
// code into a dozen files, each loaded by every worker and by a program importing one room.
await build({
  ...common,
  entryPoints: {
    "snapshot-worker": "src/worktree/snapshot-worker.ts",
    "chunk-worker": "src/objects/chunk-worker.ts",
    "pack-worker": "src/remotes/git/pack-worker.ts",
  },
});

// The command itself, one CommonJS file that bin.ts (gage.cjs) runs with a V8 code cache made here
// (src/cli/code-cache.ts; Node 20 caches no ES module's code). Paths from `import.meta.url` are
// the file's own URL, as in the ES build beside it; strict, as ES modules are.
await build({
  ...common,
  entryPoints: { cli: "src/cli/main.ts", gage: "src/cli/bin.ts" },
  format: "cjs",
  outExtension: { ".js": ".cjs" },
  // isomorphic-git, for Git remotes over HTTP only, is left to Node's require: a command that
  // does not use it compiles none of it (test/e2e/git-lazy.test.ts).
  external: [...common.external, "isomorphic-git", "isomorphic-git/*"],
  // A script from a code cache has no dynamic import() (Node drops its loader): the packages
  // left to Node are required.
  supported: { "dynamic-import": false },
  define: { "import.meta.url": "__gageModuleUrl" },
  banner: { js: '"use strict"; var __gageModuleUrl = require("node:url").pathToFileURL(__filename).href;' },
});
// esbuild escapes what is not ASCII in code but keeps some comments as written: escaped there
// too, the file is ASCII, which the command reads as a one-byte string (src/cli/code-cache.ts).
const cliFile = `${outdir}/cli.cjs`;
writeFileSync(cliFile, readFileSync(cliFile, "utf8").replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`));
const { writeCodeCache } = await import(new URL("../dist/cli/code-cache.js", import.meta.url).href);
await writeCodeCache(cliFile, codeCacheWorkload);

// The `gage serve` front end, beside dist/bundle (src/serve/assets.ts looks for ../web/).
await buildWeb(`${root}dist/web`);
