import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { commands, commandsFor } from "../../src/cli/commands/index.js";
import type { CliContext } from "../../src/cli/context.js";
import { main } from "../../src/cli/main.js";

const names = (argv: string[]) => commandsFor(argv).map((c) => c.names[0]);

test("a command line loads the command it names; the version alone loads none; help loads all", async () => {
  assert.deepEqual(names(["push", "--version"]), ["push"]);
  assert.deepEqual(names(["ls", "-a"]), ["ls"]);
  assert.deepEqual(names(["--version"]), []);
  assert.deepEqual(names(["-V"]), []);
  assert.equal(names(["--version", "--help"]).length, commands.length);
  assert.equal(names([]).length, commands.length);
  assert.equal(names(["pussh"]).length, commands.length, "an unknown command's suggestions need every name");

  let stdout = "";
  const out = Object.assign(new PassThrough(), { isTTY: false });
  out.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
  const ctx: CliContext = { env: {}, cwd: process.cwd(), stdin: new PassThrough(), stdout: out, stderr: new PassThrough(), now: () => new Date(), exitCode: 0, onInterrupt: () => () => {} };
  assert.equal(await main(["--version"], ctx), 0);
  assert.match(stdout, /^\d+\.\d+\.\d+\n$/);
});
