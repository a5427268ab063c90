import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { badEntryName, decodeTree, encodeTree } from "../../src/objects/codec.js";
import { decodeName, encodeName, fsPath, hasRawBytes, printableName } from "../../src/objects/names.js";

test("a name's bytes survive decodeName and encodeName exactly, whatever they are", () => {
  const samples = [Buffer.from("plain.txt"), Buffer.from("Grüße — 日本語 ✓ 🎉"), Buffer.from([0x63, 0x61, 0x66, 0xe9]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xf0, 0x9f, 0x8e]), Buffer.from([0xc0, 0xaf])];
  for (let i = 0; i < 2000; i++) samples.push(randomBytes(1 + (i % 40)));
  for (const bytes of samples) {
    const name = decodeName(bytes);
    assert.deepEqual(encodeName(name), bytes, bytes.toString("hex"));
    assert.equal(hasRawBytes(name), !Buffer.from(bytes.toString("utf8"), "utf8").equals(bytes), bytes.toString("hex"));
  }
});

test("UTF-8 names stay plain strings; an astral character is not mistaken for an escape", () => {
  const emoji = "\u{1F389}\u{10C80}";
  assert.equal(decodeName(Buffer.from(emoji)), emoji);
  assert.equal(hasRawBytes(emoji), false);
  assert.equal(fsPath("/r", "a/b.txt"), "/r/a/b.txt");
  assert.deepEqual(fsPath("/r", decodeName(Buffer.from([0x61, 0xff]))), Buffer.from([0x2f, 0x72, 0x2f, 0x61, 0xff]));
});

test("printableName escapes raw bytes and control characters, keeps other text", () => {
  assert.equal(printableName(decodeName(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74]))), "caf\\xe9.t");
  assert.equal(printableName("a\x1b[31mred\nb"), "a\\x1b[31mred\\x0ab");
  assert.equal(printableName("Grüße"), "Grüße");
});

test("a tree keeps a name that is not UTF-8 as bytes (msgpack bin), sorted by bytes; a UTF-8 name sent as bytes is refused", () => {
  const id = "ab".repeat(32);
  const raw = decodeName(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
  const entries = [
    { name: "caf", kind: "file" as const, mode: 0o644, size: 1, id },
    { name: "café", kind: "file" as const, mode: 0o644, size: 1, id },
    { name: raw, kind: "file" as const, mode: 0o644, size: 1, id },
  ];
  const bytes = encodeTree({ entries });
  assert.ok(bytes.includes(Buffer.from([0xc4, 4, 0x63, 0x61, 0x66, 0xe9])), "bin 8 of the raw bytes");
  assert.deepEqual(decodeTree(bytes).entries.map((e) => encodeName(e.name).toString("hex")), ["636166", "636166c3a9", "636166e9"]);
  assert.throws(() => encodeTree({ entries: [entries[2]!, entries[1]!] }), /not sorted/);
  // The same tree with a UTF-8 name written as bin: not canonical.
  const sneaky = Buffer.from(bytes);
  const at = sneaky.indexOf(Buffer.from([0xa5, 0x63, 0x61, 0x66, 0xc3, 0xa9]));
  const forged = Buffer.concat([sneaky.subarray(0, at), Buffer.from([0xc4, 5]), sneaky.subarray(at + 1)]);
  assert.throws(() => decodeTree(forged), /canonical/);
});

test("a str name that is not UTF-8 is not canonical; a real U+FFFD in a name is a name like any other", () => {
  const id = "cd".repeat(32);
  const replacement = { name: "odd\uFFFD.txt", kind: "file" as const, mode: 0o644, size: 1, id };
  assert.equal(decodeTree(encodeTree({ entries: [replacement] })).entries[0]!.name, "odd\uFFFD.txt");
  // The same bytes with the name's str payload swapped for invalid UTF-8 of another length.
  const good = encodeTree({ entries: [{ ...replacement, name: "odd\u00e9.txt" }] });
  const at = good.indexOf(Buffer.from("odd\u00e9.txt"));
  const forged = Buffer.from(good);
  forged[at + 3] = 0xff;
  assert.throws(() => decodeTree(forged), /canonical/);
});

test("a name is refused past 255 bytes as the file system counts them (UTF-8, a raw byte as one), and not before", () => {
  const cases: [string, number][] = [
    ["a".repeat(255), 255],
    ["a".repeat(256), 256],
    ["\u20ac".repeat(85), 255],
    ["\u20ac".repeat(86), 258],
    ["\u{1f600}".repeat(63) + "abc", 255],
    ["\u{1f600}".repeat(64), 256],
    [decodeName(Buffer.alloc(255, 0xff)), 255],
    [decodeName(Buffer.alloc(256, 0xfe)), 256],
    [decodeName(Buffer.concat([Buffer.alloc(84, 0xff), Buffer.from("\u20ac".repeat(57))])), 255],
    [decodeName(Buffer.concat([Buffer.alloc(85, 0xff), Buffer.from("\u20ac".repeat(57))])), 256],
  ];
  for (const [name, bytes] of cases) {
    assert.equal(encodeName(name).length, bytes, name);
    assert.equal(badEntryName(name), bytes > 255 ? "name longer than 255 bytes" : undefined, `${bytes} bytes`);
  }
  for (let i = 0; i < 500; i++) {
    const name = decodeName(randomBytes(200 + (i % 120))).replaceAll("/", "x").replaceAll("\0", "x").replaceAll("\\", "x");
    assert.equal(badEntryName(name) === "name longer than 255 bytes", encodeName(name).length > 255, `${encodeName(name).length} bytes`);
  }
});
