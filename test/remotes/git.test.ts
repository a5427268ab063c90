// Git remotes' pure parts: URL forms, [repos.NAME] keys, tree parsing, the merge rule, and the
// advertisement fix-up that lets isomorphic-git fetch from a repository whose HEAD is unborn.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { findRemote, listRemotes, redactRemote } from "../../src/remotes/config.js";
import { EMPTY_TREE_OID, encodeTree, hashObject, parseTree } from "../../src/remotes/git/objects.js";
import { addHeadSymref } from "../../src/remotes/git/repo.js";
import { parseGitUrl } from "../../src/remotes/url.js";
import { decidePart, runState } from "../../src/sync/git/merge.js";
import { initBare } from "../helpers/git-http.js";

let dir: string;
let bare: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "gage-git-unit-"));
  bare = await initBare(join(dir, "team.git"));
});
after(() => rm(dir, { recursive: true, force: true }));

test("Git URLs: git+https, git+http, git+file and a bare repository's path, each with #BRANCH", () => {
  assert.deepEqual(parseGitUrl("git+https://git.example.org/team/runs.git"), { type: "git", transport: "http", url: "https://git.example.org/team/runs.git" });
  assert.deepEqual(parseGitUrl("git+http://127.0.0.1:8080/r.git#exp/runs"), { type: "git", transport: "http", url: "http://127.0.0.1:8080/r.git", branch: "exp/runs" });
  assert.deepEqual(parseGitUrl(`git+file://${bare}`), { type: "git", transport: "file", path: bare });
  assert.deepEqual(parseGitUrl("team.git#other", dir), { type: "git", transport: "file", path: bare, branch: "other" });
  assert.equal(parseGitUrl(join(dir, "not-a-repo")), undefined, "a folder that is no bare repository is a store remote");
  assert.equal(parseGitUrl("s3://bucket/x"), undefined);
  assert.equal(parseGitUrl("alice@box:runs"), undefined, "scp-style SSH store URLs stay SSH stores");
});

test("SSH Git URLs and passwords in URLs are refused, naming the supported forms", () => {
  for (const url of ["git@github.com:team/runs.git", "ssh://git@host/team/runs.git", "git+ssh://host/r", "alice@host:team/runs.git"]) {
    assert.throws(() => parseGitUrl(url), (err: Error & { code?: string; hint?: string }) => err.code === "REMOTE_URL" && /git\+https/.test(err.hint ?? ""), url);
  }
  assert.throws(() => parseGitUrl("git+https://me:secret@host/r.git"), (err: Error & { code?: string }) => err.code === "REMOTE_URL" && !err.message.includes("secret"));
  assert.throws(() => parseGitUrl("git+https://host/r.git#../x"), { code: "REMOTE_URL" });
});

test("[repos.NAME] of a Git remote: its keys are checked, the token variable's name is kept, unknown keys refused", async () => {
  const project = join(dir, "project");
  await mkdir(project, { recursive: true });
  await writeFile(
    join(project, "gageconfig.toml"),
    `[repos.team]\nurl = "git+https://git.example.org/team/runs.git"\nbranch = "shared"\nusername = "ci"\ntoken_env = "TEAM_TOKEN"\nauthor = "CI <ci@example.org>"\nmax_file_size = 1000000\nlfs = "s3://bucket/lfs"\n\n[repos.local]\nurl = "${bare}"\n`,
  );
  const remotes = await listRemotes({ cwd: project, home: dir });
  const team = remotes.find((r) => r.name === "team")!;
  assert.equal(team.type, "git");
  assert.equal(team.url, "git+https://git.example.org/team/runs.git");
  assert.deepEqual(team.settings, { branch: "shared", username: "ci", token_env: "TEAM_TOKEN", author: "CI <ci@example.org>", max_file_size: 1000000, lfs: "s3://bucket/lfs" });
  assert.equal(redactRemote(team).settings.token_env, "TEAM_TOKEN");
  assert.equal((await findRemote("local", { cwd: project, home: dir })).type, "git");
  await writeFile(join(project, "gageconfig.toml"), `[repos.bad]\nurl = "git+https://h/r.git"\nendpoint = "x"\n`);
  await assert.rejects(listRemotes({ cwd: project, home: dir }), { code: "CONFIG" });
  await writeFile(join(project, "gageconfig.toml"), `[repos.bad]\nurl = "git@github.com:team/runs.git"\n`);
  await assert.rejects(listRemotes({ cwd: project, home: dir }), (err: Error & { code?: string }) => err.code === "CONFIG" && /SSH Git URLs/.test(err.message));
});

test("trees: Git's order and ids; hostile entries are refused", () => {
  const blob = hashObject("blob", Buffer.from("x"));
  const tree = encodeTree([
    { mode: "100644", name: "a.txt", oid: blob },
    { mode: "40000", name: "a", oid: EMPTY_TREE_OID },
  ]);
  assert.deepEqual(parseTree(tree, "t").map((e) => e.name), ["a.txt", "a"], "a folder sorts as if its name ended in /");
  assert.equal(hashObject("tree", Buffer.alloc(0)), EMPTY_TREE_OID);
  const raw = (mode: string, name: string) => Buffer.concat([Buffer.from(`${mode} ${name}\0`), Buffer.from(blob, "hex")]);
  for (const bad of [raw("100644", ".."), raw("100644", "../x"), raw("100644", ".GIT"), raw("160000", "sub"), Buffer.concat([raw("120000", "l"), raw("40000", "l")])]) {
    assert.throws(() => parseTree(bad, "t"), { code: "UNSAFE_PATH" });
  }
  assert.throws(() => parseTree(Buffer.from("100644 trunc"), "t"), { code: "CORRUPT_OBJECT" });
});

test("a run folder's three-way merge and the state it gives", () => {
  const [a, b, c] = ["a", "b", "c"].map((x) => hashObject("blob", Buffer.from(x)));
  assert.equal(decidePart(a, a, undefined), "same");
  assert.equal(decidePart(a, undefined, undefined), "ours", "the branch lacks it");
  assert.equal(decidePart(undefined, a, undefined), "theirs", "this side lacks it");
  assert.equal(decidePart(b, a, a), "ours", "the branch still holds the base");
  assert.equal(decidePart(a, b, a), "theirs", "this side still holds the base");
  assert.equal(decidePart(b, c, a), "conflict");
  assert.equal(decidePart(b, c, undefined), "conflict");
  assert.equal(runState(["same", "same"], 0, 0), "in sync");
  assert.equal(runState(["same", "same"], 1, 0), "ahead");
  assert.equal(runState(["theirs", "same"], 0, 0), "behind");
  assert.equal(runState(["ours", "same"], 0, 1), "diverged");
  assert.equal(runState(["conflict", "same"], 0, 0), "diverged");
});

test("an advertisement with no HEAD gets HEAD named as the branch; one naming HEAD is left alone", () => {
  const pkt = (s: string) => Buffer.from((s.length + 4).toString(16).padStart(4, "0") + s, "latin1");
  const oid = "1".repeat(40);
  const body = Buffer.concat([pkt("# service=git-upload-pack\n"), Buffer.from("0000"), pkt(`${oid} refs/heads/gage-runs\0multi_ack side-band-64k\n`), Buffer.from("0000")]);
  const fixed = addHeadSymref(body, "gage-runs").toString("latin1");
  assert.match(fixed, /side-band-64k symref=HEAD:refs\/heads\/gage-runs\n/);
  const line = fixed.slice(fixed.indexOf(oid) - 4);
  assert.equal(Number.parseInt(line.slice(0, 4), 16), line.indexOf("0000", 4));
  const named = Buffer.concat([pkt("# service=git-upload-pack\n"), Buffer.from("0000"), pkt(`${oid} HEAD\0symref=HEAD:refs/heads/main\n`), Buffer.from("0000")]);
  assert.equal(addHeadSymref(named, "gage-runs"), named);
  const empty = Buffer.concat([pkt("# service=git-upload-pack\n"), Buffer.from("0000"), pkt(`${"0".repeat(40)} capabilities^{}\0side-band\n`), Buffer.from("0000")]);
  assert.equal(addHeadSymref(empty, "gage-runs"), empty);
});
