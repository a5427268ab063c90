#!/usr/bin/env node
// Bundles the `gage` command and the library entry into dist/bundle/ (after `tsc`, which writes
// the types and the module-per-file build under dist/). Node's ESM loader costs about a
// millisecond per module file: a no-change push loaded 76 of them, a third of its time before
// any work. The bundle loads a handful.
//
// Everything lives in one folder two levels under the package, as every dist/ROOM/ does, so the
// paths our modules resolve from their own URL hold unchanged: worker scripts beside them
// ("./snapshot-worker.js"), the native addon ("../../native/..."), package.json ("../../").
import { build } from "esbuild";
import { rmSync } from "node:fs";
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
    gage: "src/cli/bin.ts",
    index: "src/index.ts",
    // The object store and run-folder rooms alone, as bench/snapshot-runs.mjs measures them.
    objects: "src/objects/index.ts",
    worktree: "src/worktree/index.ts",
    "snapshot-worker": "src/worktree/snapshot-worker.ts",
    "chunk-worker": "src/objects/chunk-worker.ts",
    "pack-worker": "src/remotes/git/pack-worker.ts",
  },
  splitting: true,
  chunkNames: "chunk-[hash]",
});

// The `gage serve` front end, beside dist/bundle (src/serve/assets.ts looks for ../web/).
await buildWeb(`${root}dist/web`);
