#!/usr/bin/env node
// libuv sizes its thread pool on first use, so this must run before any asynchronous fs call
// (hence the dynamic import). The default of 4 threads starves copies of many small files, where
// every file is several fs calls (open, write, fsync, rename, chmod).
process.env.UV_THREADPOOL_SIZE ??= "16";
const { main } = await import("./main.js");
process.exitCode = await main(process.argv.slice(2));
