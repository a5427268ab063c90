import assert from "node:assert/strict";
import { test } from "node:test";
import { compareVersions, EMPTY_TREE, forcePart, mergePart, mergeRunVersions, type RunVersion } from "../../src/sync/merge.js";
import { decodeHead, encodeHead, reduceEntries, keyTime, type HeadEntry } from "../../src/sync/heads.js";
import { StoreFormatError } from "../../src/sync/errors.js";

const t = (c: string) => c.repeat(64);
const A = t("a");
const B = t("b");
const C = t("c");
const version = (files: string, filesPrior: string[], user: Record<string, string> = {}): RunVersion => ({
  run: { tree: files, prior: filesPrior },
  meta: { tree: A, prior: [] },
  user,
});

test("a tree another version supersedes fast-forwards; two unrelated trees conflict", () => {
  assert.deepEqual(mergePart([{ tree: A, prior: [] }, { tree: B, prior: [A] }]), { conflict: false, tree: B, prior: [A] });
  assert.deepEqual(mergePart([{ tree: B, prior: [A] }, { tree: A, prior: [] }]), { conflict: false, tree: B, prior: [A] });
  const c = mergePart([{ tree: B, prior: [A] }, { tree: C, prior: [A] }]);
  assert.equal(c.conflict, true);
  assert.deepEqual(forcePart(c, C), { conflict: false, tree: C, prior: [B, A] });
  assert.equal(mergePart([{ tree: EMPTY_TREE, prior: [] }, { tree: C, prior: [] }]).conflict, false, "every tree supersedes the empty one");
});

test("user entries merge by union and sync states follow", () => {
  const base = version(A, [], { "u1.json": C });
  const mine = version(A, [], { "u1.json": C, "u2.json": B });
  assert.deepEqual(mergeRunVersions([base, mine]).user, { "u1.json": C, "u2.json": B });
  assert.equal(compareVersions(mine, base), "ahead");
  assert.equal(compareVersions(base, mine), "behind");
  assert.equal(compareVersions(base, base), "in sync");
  assert.equal(compareVersions(mine, version(A, [], { "u3.json": B })), "diverged");
  assert.equal(compareVersions(version(B, []), version(C, [])), "diverged");
  assert.equal(compareVersions(version(B, [A]), version(A, [])), "ahead");
  assert.equal(compareVersions(undefined, base), "remote-only");
  assert.equal(compareVersions(base, undefined), "local-only");
});

const entry = (files: string, prior: string[], user: Record<string, string>): HeadEntry => ({
  runId: "87bd998b-bf53-4585-9afb-cc19b62871d8",
  run: { tree: files, prior },
  meta: { tree: A, prior: [] },
  user: Object.fromEntries(Object.entries(user).map(([n, s]) => [n, Buffer.from(s)])),
  summary: { operation: "p:op", status: "completed", started: 1 },
});

test("heads round-trip, are verified against their key, and reduce to one entry per run", () => {
  const name = (i: number) => `01a216cc-e43c-4547-8000-00000000000${i}.json`;
  const e1 = entry(A, [], { [name(1)]: "{}" });
  const e2 = entry(B, [A], { [name(2)]: "{}" });
  const { key, bytes } = encodeHead([e1, e2], 0x1234);
  assert.equal(keyTime(key), 0x1234);
  assert.deepEqual(decodeHead(key, bytes).map((e) => e.run.tree), [A, B]);
  const bad = Buffer.from(bytes);
  bad[bad.length - 1]! ^= 1;
  assert.throws(() => decodeHead(key, bad), StoreFormatError);
  const reduced = reduceEntries([e1, e2]);
  assert.equal(reduced.length, 1);
  assert.equal(reduced[0]!.run.tree, B);
  assert.deepEqual(Object.keys(reduced[0]!.user).sort(), [name(1), name(2)]);
  assert.equal(reduceEntries([e2, entry(C, [A], {})]).length, 2, "a divergence keeps both");
});

test("a head naming a hostile run id or user entry is rejected", () => {
  const hostile = { ...entry(A, [], {}), runId: "../../etc" };
  const { key, bytes } = encodeHead([hostile], 1);
  assert.throws(() => decodeHead(key, bytes), StoreFormatError);
  const evilUser = entry(A, [], { "../x.json": "{}" });
  const h = encodeHead([evilUser], 1);
  assert.throws(() => decodeHead(h.key, h.bytes), StoreFormatError);
});
