#!/usr/bin/env node
// Builds the native addon (native/: directory listings, restores, content-defined cuts; loaded by
// src/objects/dir-listing.ts) with node-gyp.
// Run by `npm install`; it is optional: without a C compiler or Node's headers gage lists
// directories through node:fs (a no-change push takes longer), so a failed build only says so.
// GAGE_NATIVE=0 skips the build.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

const native = new URL("../native/", import.meta.url).pathname;
if (process.env.GAGE_NATIVE === "0") process.exit(0);

// npm tells scripts where its own node-gyp is; run by hand, look beside npm.
const candidates = [process.env.npm_config_node_gyp, join(dirname(process.execPath), "../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js")];
const gyp = candidates.find((p) => p !== undefined && existsSync(p));
const note = (why) => {
  console.warn(`gage-sync: the native addon was not built (${why}); gage will list, restore and chunk files in JavaScript, which is slower.`);
  process.exit(0);
};
if (gyp === undefined) note("node-gyp not found");
// Node's own headers, when they were installed with it: node-gyp would download them otherwise.
const prefix = join(dirname(process.execPath), "..");
const nodedir = process.env.npm_config_nodedir ?? (existsSync(join(prefix, "include/node/node_api.h")) ? prefix : undefined);
const args = [gyp, "rebuild", ...(nodedir === undefined ? [] : [`--nodedir=${nodedir}`])];
const result = spawnSync(process.execPath, args, { cwd: native, encoding: "utf8" });
if (result.status !== 0) {
  const lines = `${result.stdout ?? ""}${result.stderr ?? ""}`.trim().split("\n");
  console.warn(lines.slice(-8).join("\n"));
  note(result.error?.message ?? `node-gyp exited with ${result.status}`);
}
