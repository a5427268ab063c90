// Git remotes through the built binary, against Debian's real `git http-backend` (Basic auth) and
// local bare repositories, read back with the real `git` client.
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { newLogId } from "../../src/runs/user-log.js";
import { gage } from "../helpers/cli.js";
import { tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";
import { git, initBare, startGitHttp, type GitHttpServer } from "../helpers/git-http.js";

const SHARED_RUN = "87bd998b-bf53-4585-9afb-cc19b62871d8";
const TOKEN = "tok-3f9a-secret";
const tmp = tempDir("gage-git-e2e-");
let server: GitHttpServer;
let n = 0;

before(async () => {
  server = await startGitHttp({ users: { alice: TOKEN } });
});
after(async () => {
  await server.stop();
  tmp.cleanup();
});

const auth = { GAGE_GIT_USERNAME: "alice", GAGE_GIT_TOKEN: TOKEN };

/** A fresh case folder with the fixture runs in `runs` and an empty repository on the server. */
async function freshCase(): Promise<{ root: string; runs: string; url: string; plainUrl: string }> {
  const root = join(tmp.path, `case-${++n}`);
  mkdirSync(root);
  const name = `team${n}`;
  await server.createRepo(name);
  return { root, runs: unpackFixtureRuns(root), url: `git+${server.url(name)}`, plainUrl: server.url(name).replace("http://", `http://alice:${TOKEN}@`) };
}

async function run(args: string[], runs: string, env: Record<string, string> = {}) {
  return gage(args, { env: { GAGE_RUNS: runs, ...auth, ...env }, timeoutMs: 120_000 });
}

function projectFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.endsWith(".project"));
}

test("a push over HTTP is a branch that real git clones into a runs directory gage lists as the pusher does", async () => {
  const c = await freshCase();
  const pushed = await run(["push", c.url, "-y"], c.runs);
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.match(pushed.stderr, /Pushed 9 runs/);
  const clone = join(c.root, "clone");
  await git(["clone", "-q", "-b", "gage-runs", c.plainUrl, clone]);
  assert.deepEqual(projectFiles(clone), [], "ID.project is never committed");
  assert.ok(existsSync(join(clone, "README.md")));
  const mine = await run(["ls", "-s"], c.runs);
  const theirs = await run(["ls", "-s"], clone);
  assert.equal(theirs.code, 0, theirs.stderr);
  assert.equal(theirs.stdout, mine.stdout);
  assert.match(theirs.stdout, /Something to share/);
  // The branch holds only what was pushed: the deleted run stays here.
  assert.equal(existsSync(join(clone, "0dcb788a-e588-4173-9637-74a8deba065a")), false);

  const again = await run(["push", c.url, "-y"], c.runs);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout + again.stderr, /up-to-date/);
  const status = await run(["status", c.url, "--json"], c.runs);
  assert.equal(status.code, 0, status.stderr);
  const rows = (JSON.parse(status.stdout) as { runs: { state: string }[] }).runs;
  assert.equal(rows.length, 9);
  assert.ok(rows.every((r) => r.state === "in sync"), status.stdout);
  const remoteLs = await run(["ls", "-s", "--remote", c.url], join(c.root, "elsewhere"));
  assert.equal(remoteLs.code, 0, remoteLs.stderr);
  assert.equal(remoteLs.stdout, mine.stdout);
});

test("a label committed with plain git is pulled; the share-and-retrieve story holds over Git", async () => {
  const c = await freshCase();
  assert.equal((await run(["push", c.url, "-y"], c.runs)).code, 0);
  const projectBefore = readFileSync(join(c.runs, `${SHARED_RUN}.project`), "utf8");

  // B clones with gage, relabels, pushes back.
  const runsB = join(c.root, "b-runs");
  const cloned = await run(["clone", c.url, runsB], runsB);
  assert.equal(cloned.code, 0, cloned.stderr);
  assert.deepEqual(projectFiles(runsB), []);
  const labelled = await run(["label", "--set", "Retrieved by B", SHARED_RUN.slice(0, 8), "-y"], runsB);
  assert.equal(labelled.code, 0, labelled.stderr);
  const backB = await run(["push", "-y"], runsB);
  assert.equal(backB.code, 0, backB.stderr);
  assert.match(backB.stderr, /Pushed 1 run\b/);

  // C has no gage: a label file committed with git, as Gage writes one.
  const clone = join(c.root, "plain");
  await git(["clone", "-q", "-b", "gage-runs", c.plainUrl, clone]);
  const other = "25950538-8c39-4df4-91be-b31d8388d528";
  mkdirSync(join(clone, `${other}.user`), { recursive: true });
  writeFileSync(join(clone, `${other}.user`, `${newLogId(Date.now())}.json`), JSON.stringify({ author: "carol", set: { label: "From plain git" } }));
  await git(["add", "-A"], { cwd: clone });
  await git(["commit", "-q", "-m", "label from git"], { cwd: clone });
  await git(["push", "-q", "origin", "gage-runs"], { cwd: clone });

  const pulled = await run(["pull", c.url, "-y"], c.runs);
  assert.equal(pulled.code, 0, pulled.stderr);
  const ls = await run(["ls", "-s"], c.runs);
  assert.match(ls.stdout, /Retrieved by B/);
  assert.match(ls.stdout, /From plain git/);
  assert.equal(readFileSync(join(c.runs, `${SHARED_RUN}.project`), "utf8"), projectBefore, "ID.project untouched");
  const status = await run(["status", c.url, "--json"], c.runs);
  assert.ok((JSON.parse(status.stdout) as { runs: { state: string }[] }).runs.every((r) => r.state === "in sync"), status.stdout);
});

test("a wrong token and a stopped server are exit 5, quickly, and the token is never printed", async () => {
  const c = await freshCase();
  const started = Date.now();
  const wrong = await run(["push", c.url, "-y"], c.runs, { GAGE_GIT_TOKEN: "not-the-token" });
  assert.equal(wrong.code, 5, wrong.stderr);
  assert.match(wrong.stderr, /refused the credentials from GAGE_GIT_TOKEN/);
  assert.doesNotMatch(wrong.stdout + wrong.stderr, /not-the-token|tok-3f9a/);
  const none = await run(["ls", "--remote", c.url], c.runs, { GAGE_GIT_TOKEN: "", HOME: c.root });
  assert.equal(none.code, 5, none.stderr);
  assert.match(none.stderr, /needs credentials/);

  const stopped = await startGitHttp({ users: { alice: TOKEN } });
  await stopped.createRepo("gone");
  const url = `git+${stopped.url("gone")}`;
  await stopped.stop();
  const down = await run(["pull", url, "-y"], c.runs);
  assert.equal(down.code, 5, down.stderr);
  assert.match(down.stderr, /Cannot reach/);
  assert.ok(Date.now() - started < 30_000);
});

test("SSH Git URLs are refused with the supported forms", async () => {
  const c = await freshCase();
  const r = await run(["push", "git@github.com:team/runs.git", "-y"], c.runs);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /SSH Git URLs are not supported/);
  assert.match(r.stderr, /git\+https:\/\//);
});

test("a file over max_file_size without lfs stops the push before anything is sent", async () => {
  const c = await freshCase();
  writeFileSync(join(c.root, "gageconfig.toml"), `[repos.team]\nurl = "${c.url}"\nmax_file_size = 4096\n`);
  const before = server.pushes;
  const r = await gage(["push", "team", "-y"], { cwd: c.root, env: { GAGE_RUNS: c.runs, ...auth } });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /max_file_size/);
  assert.match(r.stderr, /lfs = /);
  assert.equal(server.pushes, before, "no push request reached the server");
  const meta = await gage(["push", "team", "--only", "meta,user", "-y"], { cwd: c.root, env: { GAGE_RUNS: c.runs, ...auth } });
  assert.equal(meta.code, 0, meta.stderr);
});

test("four processes pushing different labels at once into a bare repository: every label and every commit kept", async () => {
  const c = await freshCase();
  const bare = await initBare(join(c.root, "shared.git"));
  assert.equal((await run(["push", bare, "-y"], c.runs)).code, 0);
  const labels = ["one", "two", "three", "four"];
  const dirs: string[] = [];
  for (const label of labels) {
    const dir = join(c.root, `w-${label}`);
    assert.equal((await run(["clone", bare, dir], dir)).code, 0);
    assert.equal((await run(["label", "--set", `Label ${label}`, String(labels.indexOf(label) + 1), "-y"], dir)).code, 0);
    dirs.push(dir);
  }
  const results = await Promise.all(dirs.map((dir) => run(["push", "-y"], dir)));
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  const pulled = await run(["pull", bare, "-y"], c.runs);
  assert.equal(pulled.code, 0, pulled.stderr);
  const ls = (await run(["ls", "-s"], c.runs)).stdout;
  for (const label of labels) assert.match(ls, new RegExp(`Label ${label}`));
  const log = await git(["log", "--format=%s", "gage-runs"], { cwd: bare });
  assert.equal(log.trim().split("\n").length, 5, log);
});

test("a hostile tree on the branch (../x, a path through a symlink, ID.project) is refused with exit 6 and nothing written", async () => {
  const c = await freshCase();
  const bare = await initBare(join(c.root, "hostile.git"));
  const runId = "11111111-2222-4333-8444-555555555555";
  const target = join(c.root, "target");
  mkdirSync(target);
  for (const [what, tree] of await hostileTrees(bare, runId)) {
    const commit = (await git(["commit-tree", tree, "-m", what], { cwd: bare })).trim();
    await git(["update-ref", "refs/heads/gage-runs", commit], { cwd: bare });
    const r = await run(["pull", bare, "-y"], target);
    assert.equal(r.code, 6, `${what}: ${r.stderr}`);
    assert.deepEqual(readdirSync(target).filter((x) => x !== ".gage-sync"), [], `${what}: nothing written`);
  }
});

/** Trees a hostile server could hold, made with git's own plumbing from raw tree bytes. */
async function hostileTrees(bare: string, runId: string): Promise<Array<[string, string]>> {
  const hash = async (type: string, data: Buffer) => (await gitInput(bare, ["hash-object", "-w", "-t", type, "--literally", "--stdin"], data)).trim();
  const tree = (entries: Array<[string, string, string]>) =>
    Buffer.concat(entries.map(([mode, name, oid]) => Buffer.concat([Buffer.from(`${mode} ${name}\0`), Buffer.from(oid, "hex")])));
  const opref = await hash("blob", Buffer.from("1 proj hello"));
  const file = await hash("blob", Buffer.from("pwned\n"));
  const link = await hash("blob", Buffer.from("/tmp"));
  const metaTree = await hash("tree", tree([["100644", "opref", opref]]));
  const dotdot = await hash("tree", tree([["100644", "../x", file]]));
  const sub = await hash("tree", tree([["100644", "x", file]]));
  const throughLink = await hash("tree", tree([["120000", "out", link], ["40000", "out", sub]]));
  return [
    ["../x", await hash("tree", tree([["40000", runId, dotdot], ["40000", `${runId}.meta`, metaTree]]))],
    ["a path through a symlink entry", await hash("tree", tree([["40000", runId, throughLink], ["40000", `${runId}.meta`, metaTree]]))],
    ["a symlinked run folder", await hash("tree", tree([["120000", runId, link], ["40000", `${runId}.meta`, metaTree]]))],
    ["ID.project", await hash("tree", tree([["40000", `${runId}.meta`, metaTree], ["100644", `${runId}.project`, file]]))],
  ];
}

async function gitInput(cwd: string, args: string[], input: Buffer): Promise<string> {
  const { spawn } = await import("node:child_process");
  return new Promise((resolve, reject) => {
    const child = spawn("git", args, { cwd });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`git ${args.join(" ")}: ${err}`))));
    child.stdin.end(input);
  });
}

test("a run changed on both sides is left out of the push, exit 4 naming it; --force keeps this side and the other side pulls it", async () => {
  const c = await freshCase();
  assert.equal((await run(["push", c.url, "-y"], c.runs)).code, 0);
  const runsB = join(c.root, "b");
  assert.equal((await run(["clone", c.url, runsB], runsB)).code, 0);
  const edit = (runs: string, text: string) => {
    const file = join(runs, SHARED_RUN, "hello.py");
    chmodSync(file, 0o644);
    writeFileSync(file, text);
  };
  edit(c.runs, "print('from A')\n");
  edit(runsB, "print('from B')\n");
  assert.equal((await run(["push", "-y"], c.runs)).code, 2, "A has no default remote");
  assert.equal((await run(["push", c.url, "-y"], c.runs)).code, 0);
  const conflict = await run(["push", "-y"], runsB);
  assert.equal(conflict.code, 4, conflict.stderr);
  assert.match(conflict.stderr, new RegExp(`${SHARED_RUN}/hello\\.py`), "the file both sides changed, not the folder");
  const json = await run(["push", "-y", "--json"], runsB);
  assert.equal(json.code, 4, json.stderr);
  // As a store push's: the document lists the runs left out as `conflicts`.
  assert.deepEqual((JSON.parse(json.stdout) as { conflicts: unknown }).conflicts, [{ runId: SHARED_RUN, paths: [`${SHARED_RUN}/hello.py`] }]);
  const forced = await run(["push", "--force", "-y"], runsB);
  assert.equal(forced.code, 0, forced.stderr);
  const pulled = await run(["pull", c.url, "-y"], c.runs);
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.equal(readFileSync(join(c.runs, SHARED_RUN, "hello.py"), "utf8"), "print('from B')\n");
});

test("copy --to and --from a Git remote, and remote check", async () => {
  const c = await freshCase();
  const copied = await run(["copy", "--to", c.url, SHARED_RUN.slice(0, 8), "-y"], c.runs);
  assert.equal(copied.code, 0, copied.stderr);
  assert.match(copied.stderr, /Copied 1 run/);
  const none = await run(["copy", "--from", c.url, "-y"], join(c.root, "other"));
  assert.equal(none.code, 2, "copy names runs or --all");
  const back = await run(["copy", "--from", c.url, "--all", "-y"], join(c.root, "other"));
  assert.equal(back.code, 0, back.stderr);
  assert.deepEqual(readdirSync(join(c.root, "other")).filter((x) => !x.startsWith(".")).sort(), [SHARED_RUN, `${SHARED_RUN}.meta`, `${SHARED_RUN}.user`]);
  const check = await run(["remote", "check", c.url], c.runs);
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, /connect +ok[\s\S]*read +ok[\s\S]*write +ok/);
  const refused = await run(["remote", "check", c.url, "--json"], c.runs, { GAGE_GIT_TOKEN: "wrong" });
  assert.equal(refused.code, 5);
  assert.equal((JSON.parse(refused.stdout) as { ok: boolean }).ok, false);
});

test("with lfs set, large files become LFS pointers on the branch, their contents in the lfs store, and come back whole", async () => {
  const c = await freshCase();
  const store = join(c.root, "lfs-store");
  mkdirSync(store);
  writeFileSync(join(c.root, "gageconfig.toml"), `[repos.team]\nurl = "${c.url}"\nmax_file_size = 4096\nlfs = "${store}"\n`);
  const big = join(c.runs, SHARED_RUN, "weights.bin");
  const bytes = Buffer.alloc(300_000, 7);
  bytes.write("not all sevens", 1000);
  writeFileSync(big, bytes);
  const env = { GAGE_RUNS: c.runs, ...auth };
  const pushed = await gage(["push", "team", "-y"], { cwd: c.root, env });
  assert.equal(pushed.code, 0, pushed.stderr);
  const clone = join(c.root, "plain");
  await git(["clone", "-q", "-b", "gage-runs", c.plainUrl, clone]);
  const pointer = readFileSync(join(clone, SHARED_RUN, "weights.bin"), "utf8");
  assert.match(pointer, /^version https:\/\/git-lfs\.github\.com\/spec\/v1\noid sha256:[0-9a-f]{64}\nsize 300000\n$/);
  const oid = /sha256:([0-9a-f]{64})/.exec(pointer)![1]!;
  assert.ok(readFileSync(join(store, "lfs", "objects", oid.slice(0, 2), oid.slice(2, 4), oid)).equals(bytes));
  const again = await gage(["push", "team", "-y"], { cwd: c.root, env });
  assert.match(again.stderr + again.stdout, /up-to-date/);
  const runsB = join(c.root, "b");
  const cloned = await gage(["clone", "team", runsB], { cwd: c.root, env: { ...env, GAGE_RUNS: runsB } });
  assert.equal(cloned.code, 0, cloned.stderr);
  assert.ok(readFileSync(join(runsB, SHARED_RUN, "weights.bin")).equals(bytes));
  const status = await gage(["status", "--json"], { cwd: c.root, env: { ...env, GAGE_RUNS: runsB } });
  assert.ok((JSON.parse(status.stdout) as { runs: { state: string }[] }).runs.every((r) => r.state === "in sync"), status.stdout);
});

test("runs found in sync are skipped by the next push only while their folders and the branch's tip stay as they were", async () => {
  const c = await freshCase();
  const bare = await initBare(join(c.root, "team.git"));
  const pushed = async (runs: string) => {
    const r = await run(["push", bare, "-y", "--json"], runs);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { runs: { id: string }[] }).runs.map((x) => x.id);
  };
  assert.ok((await pushed(c.runs)).includes(SHARED_RUN));
  assert.deepEqual(await pushed(c.runs), []);
  // An edit dated an hour back (past the racy window) is still seen: the folder's sum changed.
  const file = join(c.runs, SHARED_RUN, "hello.py");
  chmodSync(file, 0o644);
  writeFileSync(file, "print('edited, same age')\n");
  const hourAgo = new Date(Date.now() - 3600_000);
  utimesSync(file, hourAgo, hourAgo);
  assert.deepEqual(await pushed(c.runs), [SHARED_RUN]);
  assert.equal(await git(["show", `gage-runs:${SHARED_RUN}/hello.py`], { cwd: bare }), "print('edited, same age')\n");
  // Another side moves the branch: this side's rows no longer hold, and its next edit still goes.
  const runsB = join(c.root, "b");
  assert.equal((await run(["clone", bare, runsB], runsB)).code, 0);
  assert.equal((await run(["label", "--set", "from-b", SHARED_RUN.slice(0, 8), "-y"], runsB)).code, 0);
  assert.deepEqual(await pushed(runsB), [SHARED_RUN]);
  writeFileSync(file, "print('edited again')\n");
  utimesSync(file, hourAgo, hourAgo);
  assert.deepEqual(await pushed(c.runs), [SHARED_RUN]);
  assert.equal(await git(["show", `gage-runs:${SHARED_RUN}/hello.py`], { cwd: bare }), "print('edited again')\n");
  assert.equal((await run(["pull", bare, "-y"], runsB)).code, 0);
  assert.equal(readFileSync(join(runsB, SHARED_RUN, "hello.py"), "utf8"), "print('edited again')\n");
});
