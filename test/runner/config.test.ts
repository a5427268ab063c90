import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { applyConfig, readProjectConfig } from "../../src/runner/config.js";
import { PythonConfig } from "../../src/runner/config-py.js";
import { splitLinesKeepEnds, unifiedDiff } from "../../src/runner/diff.js";
import { PyFloat } from "../../src/runner/values.js";
import { tempDir } from "../helpers/fixtures.js";

const PY_SOURCE = `"""Doc string with x = 1 inside."""
import sys

name = "Gage"
lr = 0.1  # learning rate
epochs = 10; debug = False
layers = [64, 'relu', None]
opts = {"a": 1, "b": [2.5]}
neg = -1
x += 1
label = f"not {name}"
s = '''multi
y = 2
'''
if True:
    indented = 3
call = dict(
    inner=4,
)
`;

test("Python config: module-level literal assignments only", () => {
  const config = new PythonConfig(PY_SOURCE);
  assert.deepEqual(Object.fromEntries(config.values), {
    name: "Gage",
    lr: new PyFloat(0.1),
    epochs: 10,
    debug: false,
    "layers.0": 64,
    "layers.1": "relu",
    "layers.2": null,
    "opts.a": 1,
    "opts.b.0": new PyFloat(2.5),
  });
});

test("Python config: new values replace only their literals, strings keep their quotes", () => {
  const config = new PythonConfig(PY_SOURCE);
  const out = config.apply({ name: "Zoë", lr: new PyFloat(1), epochs: 3, "layers.1": "it's", debug: true });
  assert.match(out, /^name = "Zoë"$/m);
  assert.match(out, /^lr = 1\.0  # learning rate$/m);
  assert.match(out, /^epochs = 3; debug = True$/m);
  assert.match(out, /^layers = \[64, 'it\\'s', None\]$/m);
  assert.equal(out.replace(/^(name|lr|epochs|layers) = .*$/gm, ""), PY_SOURCE.replace(/^(name|lr|epochs|layers) = .*$/gm, ""));
});

/** What Python's difflib makes of each pair (one python3 process for all). */
function pythonDiffs(cases: Array<[string, string]>): string[] {
  const script =
    "import difflib, sys, json\n" +
    "print(json.dumps([''.join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), 'f.py', 'f.py')) for a, b in json.load(sys.stdin)]))\n";
  return JSON.parse(execFileSync("python3", ["-c", script], { input: JSON.stringify(cases), encoding: "utf8" })) as string[];
}

test("unified diffs equal Python difflib's", () => {
  const base = Array.from({ length: 30 }, (_, i) => `line ${i}\n`).join("");
  const cases: Array<[string, string]> = [
    ['name = "Gage"\n\nprint(f"Hello {name}")\n', 'name = "Sharon"\n\nprint(f"Hello {name}")\n'],
    [base, base.replace("line 3\n", "line three\n").replace("line 20\n", "").replace("line 28\n", "line 28\nextra\n")],
    [base, base.replace("line 10\n", "line ten\n").replace("line 14\n", "line fourteen\n")],
    ["a\nb\nc\n", "a\nb\nc\n"],
    ["x\n", "y"],
    ["a\nb\na\nb\n", "b\na\nb\na\n"],
  ];
  const expected = pythonDiffs(cases);
  cases.forEach(([a, b], i) => {
    assert.equal(unifiedDiff(splitLinesKeepEnds(a), splitLinesKeepEnds(b), "f.py").join(""), expected[i], `case ${i}`);
  });
});

test("config files: flags, patching and diffs for Python, JSON, YAML and TOML", () => {
  const dir = tempDir();
  try {
    const p = dir.path;
    writeFileSync(join(p, "train.py"), "lr = 0.1\nepochs = 2\n");
    writeFileSync(join(p, "c.json"), '{\n  "model": {"depth": 3},\n  "tags": ["a"]\n}\n');
    writeFileSync(join(p, "c.yaml"), "# keep me\nbatch: 32\n");
    writeFileSync(join(p, "c.toml"), "[opt]\nmomentum = 0.9\n");
    mkdirSync(join(p, "sub"));
    writeFileSync(join(p, "sub", "c.json"), '{"deep": 1}');
    const specs = [["train.py", "-train.py#epochs"], ["c.json"], ["c.yaml"], ["c.toml"]];
    const { config, flags } = readProjectConfig(p, specs);
    assert.deepEqual(flags, ["batch", "lr", "tags"]);
    assert.deepEqual(config, { lr: new PyFloat(0.1), epochs: 2, "model.depth": 3, tags: ["a"], batch: 32, "opt.momentum": new PyFloat(0.9) });

    const diffs = applyConfig(p, specs, { ...config, lr: new PyFloat(0.5), epochs: 9, tags: ["x", "y"], batch: 64 });
    assert.deepEqual(diffs.map(([path]) => path), ["c.json", "c.yaml", "train.py"]);
    assert.equal(readFileSync(join(p, "train.py"), "utf8"), "lr = 0.5\nepochs = 2\n");
    assert.deepEqual(JSON.parse(readFileSync(join(p, "c.json"), "utf8")), { model: { depth: 3 }, tags: ["x", "y"] });
    assert.equal(readFileSync(join(p, "c.yaml"), "utf8"), "# keep me\nbatch: 64\n");
    assert.equal(readFileSync(join(p, "c.toml"), "utf8"), "[opt]\nmomentum = 0.9\n");
    assert.equal(diffs.find(([path]) => path === "train.py")![1].join(""), "--- train.py\n+++ train.py\n@@ -1,2 +1,2 @@\n-lr = 0.1\n+lr = 0.5\n epochs = 2\n");
  } finally {
    dir.cleanup();
  }
});
