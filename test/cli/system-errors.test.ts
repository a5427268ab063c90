import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { test } from "node:test";
import { systemErrorMessage } from "../../src/cli/system-errors.js";

/** The error a real system call gives. */
function failure(call: () => void): unknown {
  try {
    call();
  } catch (err) {
    return err;
  }
  assert.fail("the call did not fail");
}

test("a full disk is one line that says what to do, not a stack trace", () => {
  // /dev/full answers every write with ENOSPC, as a full disk does.
  const err = failure(() => writeFileSync("/dev/full", "x"));
  assert.equal((err as NodeJS.ErrnoException).code, "ENOSPC");
  const message = systemErrorMessage(err)!;
  assert.match(message, /^no space left on the device.*: free some space and run the command again$/);
  assert.doesNotMatch(message, /\n/);
});

test("errors that are not this machine's own files are left to the caller", () => {
  assert.equal(systemErrorMessage(new Error("boom")), undefined);
  assert.equal(systemErrorMessage(failure(() => writeFileSync("/nonexistent-folder/x", "x"))), undefined, "ENOENT names its own path");
  assert.equal(systemErrorMessage("not an error"), undefined);
});

test("a path too long for the file system is one short line naming the start and end of the path", () => {
  const err = failure(() => writeFileSync(`/tmp/${"x".repeat(5000)}`, "x"));
  assert.equal((err as NodeJS.ErrnoException).code, "ENAMETOOLONG");
  const message = systemErrorMessage(err)!;
  assert.match(message, /^a path is too long for the file system \(\/tmp\/x+…x+\): use a shorter path$/);
  assert.ok(message.length < 150);
});
