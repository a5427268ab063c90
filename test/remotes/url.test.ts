import assert from "node:assert/strict";
import { test } from "node:test";
import { formatLocation, parseStorageUrl, redactUrl } from "../../src/remotes/url.js";
import { checkKey, compareKeys } from "../../src/remotes/keys.js";

test("paths and file URLs are local", () => {
  assert.deepEqual(parseStorageUrl("/srv/runs"), { type: "local", path: "/srv/runs" });
  assert.deepEqual(parseStorageUrl("runs/shared", "/home/me/project"), { type: "local", path: "/home/me/project/runs/shared" });
  assert.deepEqual(parseStorageUrl("file:///srv/r%C3%BCns"), { type: "local", path: "/srv/rüns" });
  assert.throws(() => parseStorageUrl("relative"), { code: "REMOTE_URL" });
  assert.throws(() => parseStorageUrl("file://otherhost/x"), { code: "REMOTE_URL" });
});

test("s3 URLs: bucket and a prefix that ends in /", () => {
  assert.deepEqual(parseStorageUrl("s3://bucket"), { type: "s3", bucket: "bucket", prefix: "" });
  assert.deepEqual(parseStorageUrl("s3://bucket/"), { type: "s3", bucket: "bucket", prefix: "" });
  assert.deepEqual(parseStorageUrl("s3://bucket/team/runs/"), { type: "s3", bucket: "bucket", prefix: "team/runs/" });
  assert.equal(formatLocation(parseStorageUrl("s3://bucket/team/runs")), "s3://bucket/team/runs");
});

test("ssh URLs and scp-style USER@HOST:PATH", () => {
  assert.deepEqual(parseStorageUrl("ssh://alice@example.org:2222/srv/runs"), {
    type: "ssh",
    user: "alice",
    host: "example.org",
    port: 2222,
    path: "/srv/runs",
  });
  assert.deepEqual(parseStorageUrl("ssh://myalias/srv"), { type: "ssh", host: "myalias", path: "/srv" });
  assert.deepEqual(parseStorageUrl("ssh://host/~/runs"), { type: "ssh", host: "host", path: "runs" });
  assert.deepEqual(parseStorageUrl("alice@host:runs/x"), { type: "ssh", user: "alice", host: "host", path: "runs/x" });
  assert.deepEqual(parseStorageUrl("alice@host:/abs"), { type: "ssh", user: "alice", host: "host", path: "/abs" });
  assert.equal(formatLocation(parseStorageUrl("alice@host:runs")), "ssh://alice@host/~/runs");
  assert.throws(() => parseStorageUrl("ssh://u:pw@host/x"), { code: "REMOTE_URL" });
  assert.throws(() => parseStorageUrl("ftp://host/x"), { code: "REMOTE_URL" });
});

test("redaction hides passwords and secret query values", () => {
  assert.equal(redactUrl("https://user:hunter2@host/x"), "https://user:***@host/x");
  assert.equal(redactUrl("s3://b/p?secret_key=abc&region=x"), "s3://b/p?secret_key=***&region=x");
  assert.equal(redactUrl("s3://bucket/prefix"), "s3://bucket/prefix");
});

test("keys: the contract's form, and S3's (UTF-8 byte) order", () => {
  assert.equal(checkKey("a/b.c/ü"), "a/b.c/ü");
  for (const bad of ["", "/a", "a//b", "a/./b", "a/../b", "a/", "a\\b", "x/.gage-tmp-1"]) {
    assert.throws(() => checkKey(bad), { code: "USAGE" }, bad);
  }
  // U+FF5E sorts before U+1F600 in UTF-8, after it in UTF-16 code units
  assert.ok(compareKeys("\uFF5E", "\u{1F600}") < 0);
  assert.ok(compareKeys("a.b", "a/b") < 0);
});
