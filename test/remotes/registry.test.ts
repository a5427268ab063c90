import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { backends, storageTypes } from "../../src/remotes/registry.js";

const here = new URL(".", import.meta.url);

test("every registered backend runs the conformance suite", () => {
  assert.deepEqual([...storageTypes].sort(), ["local", "memory", "s3", "ssh"]);
  for (const type of storageTypes) {
    const file = new URL(`${type}.test.ts`, here);
    assert.ok(existsSync(file), `test/remotes/${type}.test.ts must run storageConformance("${type}", ...)`);
    const text = readFileSync(file, "utf8");
    assert.match(text, new RegExp(`storageConformance\\("${type}",`), `${type}.test.ts does not run the conformance suite`);
    assert.doesNotMatch(text, /\.(skip|todo)\(|\bskip:/, `${type}.test.ts skips tests`);
  }
});

test("the conformance suite skips nothing", () => {
  const suite = readFileSync(new URL("conformance.ts", here), "utf8");
  assert.doesNotMatch(suite, /\.(skip|todo|only)\(|\b(skip|todo|only):/);
});

test("each backend declares its options once, with help, and a default concurrency", () => {
  for (const type of storageTypes) {
    const backend = backends[type];
    assert.equal(backend.type, type);
    assert.ok(backend.defaultConcurrency >= 1);
    const names = backend.options.map((o) => o.name);
    assert.equal(new Set(names).size, names.length, `${type} declares an option twice`);
    for (const option of backend.options) assert.ok(option.help.length > 0, `${type}.${option.name} has no help`);
  }
  assert.ok(backends.s3.defaultConcurrency > backends.local.defaultConcurrency);
  assert.ok(backends.s3.options.find((o) => o.name === "secret_access_key")?.secret);
});
