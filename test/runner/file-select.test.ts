import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { DEFAULT_SOURCECODE_PATTERNS, globRegex, selectFiles } from "../../src/runner/file-select.js";
import { tempDir } from "../helpers/fixtures.js";

test("globs become Gage's anchored regexes", () => {
  assert.ok(globRegex("**/*.py", "/").test("a.py"));
  assert.ok(globRegex("**/*.py", "/").test("x/y/a.py"));
  assert.ok(!globRegex("*.py", "/").test("x/a.py"));
  assert.ok(globRegex("**/.*", "/").test("sub/.git"));
  assert.ok(globRegex("opts.*", ".").test("opts.a"));
  assert.ok(!globRegex("*", ".").test("opts.a"));
});

test("default source code: small text files, no dot-dirs, virtualenvs or .nocopy dirs", () => {
  const dir = tempDir();
  try {
    const p = dir.path;
    const write = (rel: string, data: string | Buffer) => {
      mkdirSync(join(p, rel, ".."), { recursive: true });
      writeFileSync(join(p, rel), data);
    };
    write("train.py", "print(1)\n");
    write("README.md", "# hi\n");
    write("empty.txt", "");
    write("model.bin", Buffer.from([0, 1, 2, 3]));
    write("big.txt", "x".repeat(10_000));
    write(".git/config", "[core]\n");
    write(".hidden", "text\n");
    write("venv/bin/activate", "# venv\n");
    write("venv/lib/x.py", "x = 1\n");
    write("data/.nocopy", "");
    write("data/rows.csv", "a,b\n");
    write("pkg/sub/mod.py", "y = 2\n");
    assert.deepEqual(selectFiles(p, DEFAULT_SOURCECODE_PATTERNS), [".hidden", "README.md", "empty.txt", "pkg/sub/mod.py", "train.py"]);
    assert.deepEqual(selectFiles(p, ["*.py", "**/*.csv"]), ["data/rows.csv", "train.py"]);
    assert.deepEqual(selectFiles(p, ["**/* max-matches=2"]).length, 2);
  } finally {
    dir.cleanup();
  }
});
