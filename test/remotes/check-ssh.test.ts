// SSH specifics against a real sshd: ~/.ssh/config aliases, scp-style URLs, hashed and changed
// known_hosts entries, and `gage remote check` through the built binary.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import { HostKeyError } from "../../src/remotes/errors.js";
import { openStorage } from "../../src/remotes/open.js";
import { gage } from "../helpers/cli.js";
import { startSshd, type SshdHandle } from "../helpers/sshd.js";

const run = promisify(execFile);
let sshd: SshdHandle;
let scratch: string;

before(async () => {
  sshd = await startSshd();
  scratch = await mkdtemp(join(tmpdir(), "gage-check-ssh-"));
});
after(async () => {
  await sshd.stop();
  await rm(scratch, { recursive: true, force: true });
});

/** A copy of the test HOME whose known_hosts is `knownHosts`. */
async function homeWith(name: string, knownHosts: string): Promise<string> {
  const home = join(scratch, name);
  await cp(sshd.home, home, { recursive: true });
  await writeFile(join(home, ".ssh", "known_hosts"), knownHosts);
  return home;
}

function jsonOf(stdout: string): { ok: boolean; steps: { step: string; status: string; error?: { code: string; hint: string | null } }[] } {
  return JSON.parse(stdout);
}

test("a Host alias from ~/.ssh/config, and USER@ALIAS:PATH", async () => {
  const viaAlias = await openStorage(`ssh://${sshd.alias}${sshd.root}/alias`, { env: sshd.env });
  await viaAlias.put("k", Buffer.from("via alias"));
  await viaAlias.close();
  const scp = await openStorage(`${sshd.user}@${sshd.alias}:${sshd.root}/alias`, { env: sshd.env });
  assert.equal((await scp.getBytes("k")).toString(), "via alias");
  await scp.close();
});

test("a key held by ssh-agent, with no key file in ~/.ssh", async () => {
  const home = join(scratch, "agent-home");
  await mkdir(join(home, ".ssh"), { recursive: true });
  await cp(join(sshd.home, ".ssh", "known_hosts"), join(home, ".ssh", "known_hosts"));
  const socket = join(scratch, "agent.sock");
  const agent = spawn("ssh-agent", ["-D", "-a", socket], { stdio: "ignore" });
  try {
    for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 20));
    await run("ssh-add", ["-q", sshd.identityFile], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
    const storage = await openStorage(sshd.url(sshd.root), { env: { HOME: home, SSH_AUTH_SOCK: socket } });
    assert.equal(await storage.stat("nothing"), undefined);
    await storage.close();
    // the same without the agent: no key at all
    await assert.rejects(openStorage(sshd.url(sshd.root), { env: { HOME: home } }), { code: "AUTH" });
  } finally {
    agent.kill();
  }
});

test("hashed known_hosts entries are honoured", async () => {
  const home = await homeWith("hashed", `[127.0.0.1]:${sshd.port} ${sshd.hostKey}\n`);
  await run("ssh-keygen", ["-q", "-H", "-f", join(home, ".ssh", "known_hosts")]);
  const storage = await openStorage(sshd.url(sshd.root), { env: { ...sshd.env, HOME: home } });
  assert.equal(await storage.stat("nothing"), undefined);
  await storage.close();
});

test("a changed host key is refused as changed; an unknown one as unknown", async () => {
  const other = join(scratch, "other_host_key");
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
  const { stdout } = await run("cat", [`${other}.pub`]);
  const changedHome = await homeWith("changed", `[127.0.0.1]:${sshd.port} ${stdout.trim()}\n`);
  await assert.rejects(openStorage(sshd.url(sshd.root), { env: { ...sshd.env, HOME: changedHome } }), (err: unknown) => {
    assert.ok(err instanceof HostKeyError);
    assert.equal(err.problem, "changed");
    assert.match(err.fingerprint, /^SHA256:/);
    return true;
  });
  // a key for another port of the same host does not vouch for this one
  const unknownHome = await homeWith("unknown", `127.0.0.1 ${sshd.hostKey}\n`);
  await assert.rejects(openStorage(sshd.url(sshd.root), { env: { ...sshd.env, HOME: unknownHome } }), (err: unknown) => {
    assert.ok(err instanceof HostKeyError);
    assert.equal(err.problem, "unknown");
    return true;
  });
});

test("remote check passes against sshd", async () => {
  const r = await gage(["remote", "check", sshd.url(`${sshd.root}/check`)], { env: sshd.env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /connect +ok\n +write +ok\n +read +ok\n +delete +ok\n/);
});

test("remote check fails clearly on an unknown host key", async () => {
  const home = await homeWith("check-unknown", "");
  const r = await gage(["remote", "check", sshd.url(sshd.root), "--json"], { env: { ...sshd.env, HOME: home } });
  assert.equal(r.code, 5, r.stdout + r.stderr);
  const error = jsonOf(r.stdout).steps[0]!.error;
  assert.equal(error?.code, "HOST_KEY");
  assert.ok(error?.hint);
  const plain = await gage(["remote", "check", sshd.url(sshd.root)], { env: { ...sshd.env, HOME: home } });
  assert.equal(plain.code, 5, plain.stdout + plain.stderr);
  assert.match(plain.stderr, /^gage: .*SHA256:/m);
});

test("remote check fails with an authentication error for a key the server does not accept", async () => {
  const key = join(scratch, "unauthorized");
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  const project = join(scratch, "project");
  await mkdir(project, { recursive: true });
  await writeFile(join(project, "gageconfig.toml"), `[repos.box]\nurl = "${sshd.url(sshd.root)}"\nidentity_file = "${key}"\n`);
  const r = await gage(["remote", "check", "box", "--json"], { env: sshd.env, cwd: project });
  assert.equal(r.code, 5, r.stdout + r.stderr);
  assert.equal(jsonOf(r.stdout).steps[0]!.error?.code, "AUTH");
});

test("remote check fails, without hanging, when the server is stopped", async () => {
  const url = sshd.url(sshd.root);
  await sshd.stop();
  const r = await gage(["remote", "check", url, "--json"], { env: sshd.env, timeoutMs: 30_000 });
  assert.equal(r.code, 5, r.stdout + r.stderr);
  assert.equal(jsonOf(r.stdout).steps[0]!.error?.code, "UNREACHABLE");
});
