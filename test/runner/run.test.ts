import assert from "node:assert/strict";
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { CancelledError } from "../../src/errors.js";
import { FlagError, GagefileError, OperationError } from "../../src/runner/errors.js";
import { planRun, runOperation } from "../../src/runner/run.js";
import { tempDir } from "../helpers/fixtures.js";

const EXAMPLE = fileURLToPath(new URL("../../examples/hello", import.meta.url));

function setup(gagefile?: string, files: Record<string, string> = {}) {
  const tmp = tempDir("gage-runner-");
  const dir = join(tmp.path, "proj");
  cpSync(EXAMPLE, dir, { recursive: true });
  if (gagefile) writeFileSync(join(dir, "gage.toml"), gagefile);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return { tmp, dir, runsDir: join(tmp.path, "runs") };
}

test("planRun resolves the operation, its flags and the command; a flag as opspec is a flag", () => {
  const { tmp, dir } = setup('[a]\nexec = ["python", "$project_dir/hello.py"]\nconfig = "hello.py"\n[b]\nexec = "true"\ndefault = true\n');
  try {
    const plan = planRun({ cwd: dir });
    assert.equal(plan.operation, "proj:b");
    assert.deepEqual(plan.flags, []);
    assert.throws(() => planRun({ cwd: dir, opspec: "name=Ann" }), (e: unknown) => e instanceof FlagError && e.flag === "name");
    const a = planRun({ cwd: dir, opspec: "a", flags: ["name='Ann Lee'"] });
    assert.deepEqual(a.cmd, ["python", `${dir}/hello.py`]);
    assert.deepEqual(a.config, { name: "Ann Lee" });
    assert.deepEqual(a.flags, ["name"]);
    assert.throws(() => planRun({ cwd: dir, opspec: "c" }), (e: unknown) => e instanceof OperationError && e.operations.join() === "a,b");
  } finally {
    tmp.cleanup();
  }
});

test("without a default and with several operations there is no default operation", () => {
  const { tmp, dir } = setup('[a]\nexec = "true"\n[b]\nexec = "true"\n');
  try {
    assert.throws(() => planRun({ cwd: dir }), (e: unknown) => e instanceof OperationError && e.opspec === undefined);
  } finally {
    tmp.cleanup();
  }
});

test("a declined confirmation writes nothing", async () => {
  const { tmp, dir, runsDir } = setup();
  try {
    let asked = "";
    await assert.rejects(
      runOperation({ cwd: dir, runsDir, env: process.env, author: "me", confirm: (plan) => ((asked = plan.operation), false) }),
      CancelledError,
    );
    assert.equal(asked, "proj:hello");
    assert.ok(!existsSync(runsDir));
  } finally {
    tmp.cleanup();
  }
});

test("output streams live; aborting with SIGINT terminates the run (exit -2)", async () => {
  const { tmp, dir, runsDir } = setup('[wait]\nexec = "python wait.py"\n', {
    "wait.py": 'import time\nprint("ready", flush=True)\ntime.sleep(120)\n',
  });
  try {
    const controller = new AbortController();
    let out = "";
    const result = await runOperation({
      cwd: dir,
      runsDir,
      env: process.env,
      author: "me",
      signal: controller.signal,
      onOutput: (chunk) => {
        out += Buffer.from(chunk).toString();
        if (out.includes("ready\n")) controller.abort("SIGINT");
      },
    });
    assert.equal(result.status, "terminated");
    assert.equal(result.exitCode, -2);
    assert.equal(readFileSync(join(result.paths.metaDir, "proc", "exit"), "utf8"), "-2");
    assert.deepEqual(readdirSync(runsDir).sort(), [result.id, `${result.id}.meta`, `${result.id}.project`]);
  } finally {
    tmp.cleanup();
  }
});

test("a project folder whose name has spaces cannot name the run's operation", () => {
  const tmp = tempDir("gage-runner-");
  try {
    const dir = join(tmp.path, "my proj");
    cpSync(EXAMPLE, dir, { recursive: true });
    assert.throws(() => planRun({ cwd: dir }), (e: unknown) => e instanceof GagefileError && e.code === "GAGEFILE");
  } finally {
    tmp.cleanup();
  }
});
