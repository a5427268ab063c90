import assert from "node:assert/strict";
import { test } from "node:test";
import { wrapText } from "../../src/cli/panel.js";
import { markdownLines, naturalCompare, pyStr } from "../../src/cli/run-panels.js";

test("natural order as Python natsort: digit runs compare as numbers", () => {
  const sorted = ["f10", "f9", "f09x", "e", "f1", "2e7c", "10ab", "fa"].sort(naturalCompare);
  assert.deepEqual(sorted, ["2e7c", "10ab", "e", "f1", "f9", "f09x", "f10", "fa"]);
});

test("comment Markdown as plain text: paragraphs joined and wrapped, marks dropped, blocks apart", () => {
  const md = "# Results\nAccuracy **went up**\nby `2%`.\n\n- one\n- two\n\n```\nx  = 1\n```";
  assert.deepEqual(markdownLines(md, 20), ["Results", "", "Accuracy went up by", "2%.", "", "• one", "• two", "", "x  = 1"]);
  assert.deepEqual(markdownLines("Bell\x07 here", 40), ["Bell\\x07 here"]);
});

test("long values wrap at spaces, or mid-word when a word is longer than the line", () => {
  assert.deepEqual(wrapText("one two three four", 9), ["one two", "three", "four"]);
  assert.deepEqual(wrapText("abcdefghij", 4), ["abcd", "efgh", "ij"]);
  assert.deepEqual(wrapText("日本語の文字", 5), ["日本", "語の", "文字"]);
});

test("config values as Python's str()", () => {
  assert.deepEqual(
    [true, false, null, 3, 0.5, 1e-7, "text", ["a", 1, false], { k: "v" }].map((v) => pyStr(v)),
    ["True", "False", "None", "3", "0.5", "1e-07", "text", "['a', 1, False]", "{'k': 'v'}"],
  );
  // Written as floats in config.json (`1.0`, `2e16`): JSON.parse reads integers.
  assert.equal(pyStr(1, true), "1.0");
  assert.equal(pyStr(2e16, true), "2e+16");
});
