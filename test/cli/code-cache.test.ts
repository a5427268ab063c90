import assert from "node:assert/strict";
import { isAscii } from "node:buffer";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import Module from "node:module";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Script } from "node:vm";
import { loadBundle, writeCodeCache } from "../../src/cli/code-cache.js";
import { withTempDir } from "../helpers/fixtures.js";

const bundle = (answer: string) => `"use strict";\nconst { basename } = require("node:path");\nmodule.exports = { answer: () => "${answer}", file: basename(__filename), dir: __dirname, self: this === exports };\n`;

test("a bundle runs as CommonJS, with its code cache once one is written beside it", async () => {
  await withTempDir("gage-cli-", async ({ path }) => {
    const file = join(path, "cli.cjs");
    // Not ASCII: read as UTF-8 (an ASCII bundle is read as latin1).
    writeFileSync(file, bundle("één → one"));
    const plain = loadBundle(file);
    assert.equal(plain.cached, false, "no cache yet");
    assert.deepEqual({ ...plain.exports, answer: (plain.exports.answer as () => string)() }, { answer: "één → one", file: "cli.cjs", dir: path, self: true });

    await writeCodeCache(file);
    assert.ok(existsSync(`${file}.cache`));
    const cached = loadBundle(file);
    assert.equal(cached.cached, true);
    assert.equal((cached.exports.answer as () => string)(), "één → one");
  });
});

test("a code cache is used only for the source it was made from: not for another of the same length, nor when damaged", async () => {
  await withTempDir("gage-cli-", async ({ path }) => {
    const file = join(path, "cli.cjs");
    writeFileSync(file, bundle("old"));
    await writeCodeCache(file);
    const cache = readFileSync(`${file}.cache`);
    writeFileSync(file, bundle("new"));
    assert.equal(bundle("old").length, bundle("new").length);

    // V8 alone checks a cache against the source's length: it would run the old code.
    const v8Only = new Script(Module.wrap(bundle("new")), { filename: file, cachedData: cache.subarray(40) });
    assert.equal(v8Only.cachedDataRejected, false, "V8 takes the stale cache");

    const loaded = loadBundle(file);
    assert.equal(loaded.cached, false);
    assert.equal((loaded.exports.answer as () => string)(), "new");

    for (const damaged of [cache.subarray(0, 20), Buffer.concat([Buffer.from("GAGEV8C0"), cache.subarray(8)]), Buffer.alloc(0)]) {
      writeFileSync(`${file}.cache`, damaged);
      const again = loadBundle(file);
      assert.equal(again.cached, false);
      assert.equal((again.exports.answer as () => string)(), "new");
    }
  });
});

test("a cache made after a workload holds the code of the functions it ran, and runs as one made before", async () => {
  await withTempDir("gage-cli-", async ({ path }) => {
    const file = join(path, "cli.cjs");
    // A function V8 compiles only when first called: its code is in a cache made after a call.
    const body = Array.from({ length: 200 }, (_, i) => `  total += (n * ${i}) % ${i + 7};`).join("\n");
    writeFileSync(file, `"use strict";\nexports.work = (n) => {\n  let total = 0;\n${body}\n  return total;\n};\n`);
    await writeCodeCache(file);
    const before = readFileSync(`${file}.cache`).length;
    let ran = 0;
    await writeCodeCache(file, async (exports) => {
      ran = (exports.work as (n: number) => number)(3);
    });
    const after = readFileSync(`${file}.cache`).length;
    assert.ok(after > before + 1000, `a cache of ${after} bytes after the call, ${before} before`);
    const loaded = loadBundle(file);
    assert.equal(loaded.cached, true);
    assert.equal((loaded.exports.work as (n: number) => number)(3), ran);
  });
});

test("the build leaves the command's bundle ASCII, with a code cache made after its workload, which install keeps", async () => {
  const cli = fileURLToPath(new URL("../../dist/bundle/cli.cjs", import.meta.url));
  assert.ok(isAscii(readFileSync(cli)));
  const loaded = loadBundle(cli);
  assert.equal(loaded.cached, true);
  assert.equal(typeof loaded.exports.main, "function");
  const built = readFileSync(`${cli}.cache`);
  await withTempDir("gage-cli-", async ({ path }) => {
    // The same bundle's cache made without the workload: the build's holds more code.
    const copy = join(path, "cli.cjs");
    writeFileSync(copy, readFileSync(cli));
    await writeCodeCache(copy);
    const cold = readFileSync(`${copy}.cache`).length;
    assert.ok(built.length > cold * 1.5, `the build's cache ${built.length} bytes, one made before running anything ${cold}`);
  });
  // npm's install step writes a cache only when this Node rejects the one there.
  execFileSync(process.execPath, [fileURLToPath(new URL("../../scripts/code-cache.mjs", import.meta.url))]);
  assert.ok(readFileSync(`${cli}.cache`).equals(built));
});
