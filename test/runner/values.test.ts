import assert from "node:assert/strict";
import { test } from "node:test";
import { PyFloat, parseFlagAssign, parseFlagValue, pyFloatRepr, pyRepr, pythonJsonIndent } from "../../src/runner/values.js";

test("flag values parse as Gage's grammar does", () => {
  assert.equal(parseFlagValue("12"), 12);
  assert.equal(parseFlagValue("-3"), -3);
  assert.deepEqual(parseFlagValue("1.0"), new PyFloat(1));
  assert.deepEqual(parseFlagValue("1e-3"), new PyFloat(0.001));
  assert.equal(parseFlagValue("true"), true);
  assert.equal(parseFlagValue("false"), false);
  assert.equal(parseFlagValue("null"), null);
  assert.equal(parseFlagValue("'a b'"), "a b");
  assert.equal(parseFlagValue('"x\\"'), "x\\");
  assert.equal(parseFlagValue("Sharon"), "Sharon");
  assert.equal(parseFlagValue("1abc"), "1abc");
  assert.equal(parseFlagValue(""), "");
  assert.deepEqual(parseFlagValue("[1, 'a,b', 2.5]"), [1, "a,b", new PyFloat(2.5)]);
});

test("flag assignments: NAME=VALUE, quoted names, and what is not one", () => {
  assert.deepEqual(parseFlagAssign("name=Sharon"), ["name", "Sharon"]);
  assert.deepEqual(parseFlagAssign("lr = 0.1"), ["lr", new PyFloat(0.1)]);
  assert.deepEqual(parseFlagAssign("x.0=1"), ["x.0", 1]);
  assert.deepEqual(parseFlagAssign("'a b'=1"), ["a b", 1]);
  assert.deepEqual(parseFlagAssign("msg=a=b"), ["msg", "a=b"]);
  assert.equal(parseFlagAssign("hello"), undefined);
  assert.equal(parseFlagAssign("a b=1"), undefined);
});

test("Python reprs of floats, strings and lists", () => {
  assert.equal(pyFloatRepr(1), "1.0");
  assert.equal(pyFloatRepr(0.1), "0.1");
  assert.equal(pyFloatRepr(1e-5), "1e-05");
  assert.equal(pyFloatRepr(1.5e16), "1.5e+16");
  assert.equal(pyFloatRepr(123456.5), "123456.5");
  assert.equal(pyRepr("it's"), `"it's"`);
  assert.equal(pyRepr("a\nb"), "'a\\nb'");
  assert.equal(pyRepr([1, "x", true, null]), "[1, 'x', True, None]");
});

test("JSON as json.dumps(indent=2, sort_keys=True) writes it", () => {
  assert.equal(pythonJsonIndent({}), "{}");
  assert.equal(pythonJsonIndent("python hello.py"), '"python hello.py"');
  assert.equal(
    pythonJsonIndent({ name: "Zoë", b: [1, new PyFloat(2)], a: { z: null, y: [] } }),
    '{\n  "a": {\n    "y": [],\n    "z": null\n  },\n  "b": [\n    1,\n    2.0\n  ],\n  "name": "Zo\\u00eb"\n}',
  );
});
