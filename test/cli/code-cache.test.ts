import assert from "node:assert/strict";
import { isAscii } from "node:buffer";
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

    writeCodeCache(file);
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
    writeCodeCache(file);
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

test("the build leaves the command's bundle ASCII, with a code cache that this Node takes", () => {
  const cli = fileURLToPath(new URL("../../dist/bundle/cli.cjs", import.meta.url));
  assert.ok(isAscii(readFileSync(cli)));
  const loaded = loadBundle(cli);
  assert.equal(loaded.cached, true);
  assert.equal(typeof loaded.exports.main, "function");
});
