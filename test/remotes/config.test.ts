import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { findRemote, listRemotes, redactRemote, resolveRemote } from "../../src/remotes/config.js";
import { checkRemote } from "../../src/remotes/check.js";

let dir: string;
let project: string;
let home: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "gage-remote-config-"));
  project = join(dir, "project");
  home = join(dir, "home");
  await mkdir(join(project, ".gage"), { recursive: true });
  await mkdir(join(home, ".gage"), { recursive: true });
  await writeFile(
    join(project, "gageconfig.toml"),
    `[repos.team]\ntype = "s3"\nurl = "s3://team-bucket/runs"\nendpoint = "http://127.0.0.1:1"\naccess_key_id = "AKIDTEST"\nsecret_access_key = "hunter2"\nconcurrency = 4\n\n[repos.near]\npath = "shared-runs"\n`,
  );
  await writeFile(join(project, ".gage", "config.toml"), `[repos.team]\npath = "/never/used"\n\n[repos.box]\nurl = "alice@box.example:runs"\nport = 2200\n`);
  await writeFile(join(home, ".gage", "config.toml"), `[repos.home]\npath = "~/gage-remote"\n\n[repos.near]\npath = "/not/this/one"\n`);
});
after(() => rm(dir, { recursive: true, force: true }));

test("remotes come from gageconfig.toml, then .gage/config.toml, then ~/.gage/config.toml; the first wins", async () => {
  const remotes = await listRemotes({ cwd: project, home });
  assert.deepEqual(
    remotes.map((r) => [r.name, r.type, r.url]),
    [
      ["team", "s3", "s3://team-bucket/runs"],
      ["near", "local", join(project, "shared-runs")],
      ["box", "ssh", "ssh://alice@box.example/~/runs"],
      ["home", "local", join(home, "gage-remote")],
    ],
  );
  const team = remotes[0]!;
  assert.deepEqual(team.settings, { endpoint: "http://127.0.0.1:1", access_key_id: "AKIDTEST", secret_access_key: "hunter2", concurrency: 4 });
  assert.equal(team.source, join(project, "gageconfig.toml"));
  assert.deepEqual(redactRemote(team).settings, { endpoint: "http://127.0.0.1:1", access_key_id: "AKIDTEST", secret_access_key: "***", concurrency: 4 });
  assert.deepEqual(remotes[2]!.settings, { port: 2200 });
});

test("a URL works wherever a name does; an unknown bare name is an error, not a new folder", async () => {
  assert.equal((await findRemote("near", { cwd: project, home })).name, "near");
  const byPath = await findRemote("./elsewhere", { cwd: project, home });
  assert.deepEqual([byPath.name, byPath.type, byPath.url], [undefined, "local", join(project, "elsewhere")]);
  assert.equal((await findRemote("s3://b/p", { cwd: project, home })).type, "s3");
  await assert.rejects(findRemote("nmae", { cwd: project, home }), { code: "CONFIG" });
});

test("bad config is a ConfigError naming the file", async () => {
  const bad = join(dir, "bad");
  await mkdir(bad);
  const cases = [
    `[repos.x]\nurl = "s3://b"\nno_such_option = 1\n`,
    `[repos.x]\ntype = "s3"\npath = "/x"\n`,
    `[repos.x]\ntype = "ssh"\nurl = "s3://b"\n`,
    `[repos.x]\nregion = "eu"\n`,
    `[repos.x]\nurl = "s3://b"\nconcurrency = "many"\n`,
    `[repos.x\nurl = "s3://b"\n`,
  ];
  for (const text of cases) {
    await writeFile(join(bad, "gageconfig.toml"), text);
    await assert.rejects(listRemotes({ cwd: bad, home }), (err: { code?: string; file?: string }) => {
      assert.equal(err.code, "CONFIG", text);
      assert.equal(err.file?.endsWith("gageconfig.toml"), true);
      return true;
    });
  }
});

test("resolveRemote opens a named local remote; checkRemote reports each step", async () => {
  const storage = await resolveRemote("near", { cwd: project, home });
  await storage.put("a/b", Buffer.from("x"));
  assert.equal((await storage.getBytes("a/b")).toString(), "x");
  await storage.close();
  const steps: string[] = [];
  const result = await checkRemote("near", { cwd: project, home, onStep: (s) => steps.push(`${s.step}:${s.status}`) });
  assert.equal(result.ok, true);
  assert.deepEqual(steps, ["connect:ok", "write:ok", "read:ok", "delete:ok"]);
  const unreachable = await checkRemote("team", { cwd: project, home, env: {}, retry: { attempts: 2, baseDelayMs: 10 } });
  assert.equal(unreachable.ok, false);
  assert.deepEqual(
    unreachable.steps.map((s) => s.status),
    ["failed", "skipped", "skipped", "skipped"],
  );
  assert.equal((unreachable.steps[0]!.error as { code?: string }).code, "UNREACHABLE");
});
