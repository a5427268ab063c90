import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { gage } from "../helpers/cli.js";
import { tempDir } from "../helpers/fixtures.js";
import { makeRun, RUN_A } from "../helpers/make-runs.js";

const tmp = tempDir("gage-mistakes-copy-");
after(() => tmp.cleanup());
let n = 0;
const fresh = () => {
  const root = join(tmp.path, `case-${++n}`);
  mkdirSync(root);
  return root;
};

test("copy --from a folder whose run ids are not UUIDs: one line naming them, exit 3, nothing written", async () => {
  const root = fresh();
  const source = join(root, "source");
  const dest = join(root, "dest");
  mkdirSync(dest);
  for (const id of ["run1", "0123abcd", "0123abcd-zz"]) makeRun(source, id, [["train.py", "print(1)\n"]]);
  const r = await gage(["copy", "--from", source, "--all", "-y"], { env: { GAGE_RUNS: dest } });
  assert.equal(r.code, 3, r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at |unexpected error/);
  // Each folder is named in a warning (the runs layer skips what is not a run id), then one line.
  for (const id of ["run1", "0123abcd", "0123abcd-zz"]) assert.match(r.stderr, new RegExp(`gage: warning: Skipping ${join(source, id)}\\.meta: its name is not a run id\n`));
  assert.match(r.stderr, new RegExp(`gage: No runs to copy in ${source}: every run there was skipped \\(see the warnings above\\)\n`));
  assert.deepEqual(readdirSync(dest), []);

  // Beside a real run, the others are named in a warning each and the real one is copied.
  makeRun(source, RUN_A, [["train.py", "print(2)\n"]]);
  const mixed = await gage(["copy", "--from", source, "--all", "-y"], { env: { GAGE_RUNS: dest } });
  assert.equal(mixed.code, 0, mixed.stderr);
  assert.match(mixed.stderr, /Copied 1 run/);
  assert.ok(existsSync(join(dest, RUN_A, "train.py")));
  assert.equal(readdirSync(dest).filter((name) => !name.startsWith(RUN_A)).length, 0, "only the real run came");
});

/** `dir/name` as bytes: on Linux a name is bytes, and these are not UTF-8 (Latin-1 `café.txt`, a lone continuation byte). */
const LATIN1 = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74]);
const STRAY = Buffer.from([0x64, 0x61, 0x74, 0x61, 0x80, 0xff]);
const under = (dir: string, name: Buffer) => Buffer.concat([Buffer.from(`${dir}/`), name]);
const namesIn = (dir: string) => readdirSync(dir, { encoding: "buffer" }).map((b) => b.toString("hex")).sort();

function runWithRawNames(runs: string): void {
  makeRun(runs, RUN_A, [["train.py", "print(1)\n"], [LATIN1, "latin-1 name\n"], [Buffer.concat([Buffer.from("sub/"), STRAY]), "stray bytes\n"]]);
}

test("copy --to and --from keep files whose names are not UTF-8, byte for byte", async () => {
  const root = fresh();
  const runs = join(root, "runs");
  runWithRawNames(runs);
  const out = join(root, "out");
  const to = await gage(["copy", "--to", out, "--all", "-y"], { env: { GAGE_RUNS: runs } });
  assert.equal(to.code, 0, to.stderr);
  assert.deepEqual(namesIn(join(out, RUN_A)), namesIn(join(runs, RUN_A)));
  assert.deepEqual(namesIn(join(out, RUN_A, "sub")), [STRAY.toString("hex")]);
  assert.equal(readFileSync(under(join(out, RUN_A), LATIN1), "utf8"), "latin-1 name\n");

  const back = join(root, "back");
  mkdirSync(back);
  const from = await gage(["copy", "--from", out, "--all", "-y"], { env: { GAGE_RUNS: back } });
  assert.equal(from.code, 0, from.stderr);
  assert.equal(readFileSync(under(join(back, RUN_A, "sub"), STRAY), "utf8"), "stray bytes\n");
  assert.equal(readFileSync(under(join(back, RUN_A), LATIN1), "utf8"), "latin-1 name\n");
  const again = await gage(["copy", "--from", out, "--all", "-y"], { env: { GAGE_RUNS: back } });
  assert.match(again.stderr, /Nothing copied, runs are up-to-date/, "the copied names compare equal");
});

test("push, clone and pull keep files whose names are not UTF-8, byte for byte (with and without the addon)", async () => {
  for (const native of ["1", "0"]) {
    const root = fresh();
    const runs = join(root, "runs");
    runWithRawNames(runs);
    const env = { GAGE_NATIVE: native };
    const store = join(root, "store");
    const pushed = await gage(["push", store, "-y"], { env: { ...env, GAGE_RUNS: runs } });
    assert.equal(pushed.code, 0, pushed.stderr);
    const dest = join(root, "clone");
    const cloned = await gage(["clone", store, dest], { env });
    assert.equal(cloned.code, 0, cloned.stderr);
    assert.deepEqual(namesIn(join(dest, RUN_A)), namesIn(join(runs, RUN_A)), `GAGE_NATIVE=${native}`);
    assert.equal(readFileSync(under(join(dest, RUN_A, "sub"), STRAY), "utf8"), "stray bytes\n");
    const status = await gage(["status", "--json"], { env: { ...env, GAGE_RUNS: dest } });
    assert.equal(JSON.parse(status.stdout).runs[0].state, "in sync", "the clone hashes to what was pushed");

    // Changed and removed on one side: the other side's pull follows, byte for byte.
    chmodSync(join(runs, RUN_A), 0o755);
    chmodSync(join(runs, RUN_A, "sub"), 0o755);
    writeFileSync(under(join(runs, RUN_A), LATIN1), "changed\n");
    rmSync(under(join(runs, RUN_A, "sub"), STRAY));
    assert.equal((await gage(["push", "-y", store], { env: { ...env, GAGE_RUNS: runs } })).code, 0);
    const pulled = await gage(["pull", "-y"], { env: { ...env, GAGE_RUNS: dest } });
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(readFileSync(under(join(dest, RUN_A), LATIN1), "utf8"), "changed\n");
    assert.deepEqual(namesIn(join(dest, RUN_A, "sub")), [], "the removed file is removed here too");
  }
});

test("copy --to a 5,000-character path: one line, no stack trace", async () => {
  const root = fresh();
  const runs = join(root, "runs");
  makeRun(runs, RUN_A, [["train.py", "print(1)\n"]]);
  const r = await gage(["copy", "--to", join(root, "y".repeat(5000)), "--all", "-y"], { env: { GAGE_RUNS: runs } });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^gage: a path is too long for the file system \(.*case-\d+\/y…y.*\): use a shorter path\n$/);
  assert.ok(r.stderr.length < 200);
});
