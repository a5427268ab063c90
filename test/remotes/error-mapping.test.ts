import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { test } from "node:test";
import { AuthError, NotFoundError, PermissionError, UnreachableError } from "../../src/remotes/errors.js";
import { mapS3Error } from "../../src/remotes/s3/errors.js";
import { mapSftpError } from "../../src/remotes/ssh/errors.js";
import { checkHostKey, fingerprint, hostFieldMatches, keyType, knownHostsName } from "../../src/remotes/ssh/known-hosts.js";

const URL = "s3://bucket/prefix";

test("S3 errors: throttling and server errors are retryable UnreachableErrors", () => {
  for (const err of [
    { name: "SlowDown", $metadata: { httpStatusCode: 503 } },
    { name: "InternalError", $metadata: { httpStatusCode: 500 } },
    { name: "Whatever", $metadata: { httpStatusCode: 429 } },
    { name: "Error", code: "ECONNREFUSED", message: "connect ECONNREFUSED" },
    { name: "TimeoutError", message: "socket timed out" },
  ]) {
    const mapped = mapS3Error(err, URL, "bucket", "k");
    assert.ok(mapped instanceof UnreachableError, err.name);
    assert.equal(mapped.retryable, true);
  }
  assert.ok(mapS3Error({ name: "NoSuchKey" }, URL, "bucket", "k") instanceof NotFoundError);
  assert.ok(mapS3Error({ name: "InvalidAccessKeyId", $metadata: { httpStatusCode: 403 } }, URL, "bucket") instanceof AuthError);
  assert.ok(mapS3Error({ name: "AccessDenied", $metadata: { httpStatusCode: 403 } }, URL, "bucket") instanceof PermissionError);
  assert.equal((mapS3Error({ name: "NoSuchBucket" }, URL, "bucket") as { code: string }).code, "STORE_NOT_FOUND");
  const unknown = new Error("something else");
  assert.equal(mapS3Error(unknown, URL, "bucket"), unknown);
});

test("SFTP errors: status codes and dropped connections", () => {
  const url = "ssh://h/p";
  assert.ok(mapSftpError({ code: 2 }, url, "k") instanceof NotFoundError);
  assert.ok(mapSftpError({ code: 3 }, url, "k") instanceof PermissionError);
  assert.ok(mapSftpError(new Error("No response from server"), url, "k") instanceof UnreachableError);
  assert.ok(mapSftpError(Object.assign(new Error("x"), { code: "ECONNRESET" }), url) instanceof UnreachableError);
});

/** An ed25519-shaped public key blob (type string + 32 bytes). */
function blob(): Buffer {
  const type = Buffer.from("ssh-ed25519");
  const out = Buffer.alloc(4 + type.length + 4 + 32);
  out.writeUInt32BE(type.length, 0);
  type.copy(out, 4);
  out.writeUInt32BE(32, 4 + type.length);
  randomBytes(32).copy(out, 8 + type.length);
  return out;
}

test("known_hosts: names, patterns, negation, hashed entries, changed and revoked keys", () => {
  const key = blob();
  const other = blob();
  const line = (hosts: string, k = key) => `${hosts} ssh-ed25519 ${k.toString("base64")}`;
  assert.equal(keyType(key), "ssh-ed25519");
  assert.match(fingerprint(key), /^SHA256:[A-Za-z0-9+/]{43}$/);
  assert.equal(knownHostsName("h", 22), "h");
  assert.equal(knownHostsName("h", 2222), "[h]:2222");
  assert.equal(checkHostKey(line("box.example,10.0.0.1"), "box.example", key), "known");
  assert.equal(checkHostKey(line("*.example"), "box.example", key), "known");
  assert.equal(checkHostKey(line("*.example,!box.example"), "box.example", key), "unknown");
  assert.equal(checkHostKey(line("box.example"), "[box.example]:2222", key), "unknown");
  assert.equal(checkHostKey(line("box.example", other), "box.example", key), "changed");
  assert.equal(checkHostKey(`${line("box.example", other)}\n${line("box.example")}`, "box.example", key), "known");
  assert.equal(checkHostKey(`@revoked * ssh-ed25519 ${key.toString("base64")}\n${line("box.example")}`, "box.example", key), "revoked");
  assert.equal(checkHostKey(`# comment\n\n@cert-authority * ssh-ed25519 ${key.toString("base64")}`, "box.example", key), "unknown");
  const salt = randomBytes(20);
  const hashed = `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update("[box.example]:2222").digest("base64")}`;
  assert.ok(hostFieldMatches(hashed, "[box.example]:2222"));
  assert.ok(!hostFieldMatches(hashed, "box.example"));
  assert.equal(checkHostKey(line(hashed), "[box.example]:2222", key), "known");
});
