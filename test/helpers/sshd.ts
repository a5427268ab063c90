/**
 * A real SSH server for tests: Debian's OpenSSH `sshd`, in the foreground (-D) on 127.0.0.1 and
 * a free port, with a generated config, host key and authorized client key.
 *
 *   const sshd = await startSshd();
 *   const storage = await openStorage(sshd.url("/some/abs/path"), { env: sshd.env });
 *   // or: gage(["push", sshd.url(dir)], { env: sshd.env })
 *   await sshd.stop();
 *
 * `home` is a temporary HOME holding `.ssh/id_ed25519` (the authorized key), `.ssh/known_hosts`
 * (the server's host key as `[127.0.0.1]:PORT`) and `.ssh/config` with a `Host` alias
 * (`sshd.alias`) that sets HostName, Port, User and IdentityFile. `env` sets HOME to it and unsets
 * SSH_AUTH_SOCK so the machine's own agent and keys never take part. `url(path)` is
 * `ssh://USER@127.0.0.1:PORT/path` (path absolute); `root` is a fresh empty folder on the server
 * side to put data in. The login user is the current user (root in CI; the generated config
 * permits root login by key only).
 *
 * When sshd is missing, it is installed once (`apt-get install openssh-server`, test/helpers/apt.ts, under a lock
 * file so parallel test files do not run apt together); when that is impossible (not root, no
 * apt), `startSshd` throws: SSH tests fail, they never pass silently.
 * `stop()` kills the server and every session process it forked (as a crash would), then
 * removes the temporary files; it is idempotent.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { readdirSync, readFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ensureDebianBinary } from "./apt.js";

const run = promisify(execFile);

export interface SshdHandle {
  host: string;
  port: number;
  user: string;
  /** A `Host` alias in `home/.ssh/config` for this server. */
  alias: string;
  /** The temporary HOME of the client side. */
  home: string;
  /** An empty folder on the server side for the test's data. */
  root: string;
  /** The client's private key file (authorized on the server). */
  identityFile: string;
  /** The server's public host key line (`ssh-ed25519 AAAA...`). */
  hostKey: string;
  /** `ssh://USER@127.0.0.1:PORT` + path */
  url(path: string): string;
  /** Environment for a client of this server: HOME, SSH_AUTH_SOCK unset. */
  env: Record<string, string | undefined>;
  process: ChildProcess;
  stop(): Promise<void>;
}

const SSHD_CANDIDATES = ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"];

/** The sshd binary, installed with apt-get when missing and we are root. */
export function ensureSshd(): Promise<string> {
  return ensureDebianBinary("openssh-server", SSHD_CANDIDATES, "SSH tests");
}

/** A port free on 127.0.0.1 now (the server that takes it must expect to lose a race). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something on `port` speaks SSH; rejects if `child` exits first. */
async function waitForBanner(port: number, child: ChildProcess, log: () => Promise<string>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`sshd exited (${child.exitCode ?? child.signalCode}) before listening:\n${await log()}`);
    }
    const banner = await new Promise<string>((resolve) => {
      const socket = createConnection({ host: "127.0.0.1", port });
      let data = "";
      socket.setEncoding("utf8");
      socket.on("data", (d: string) => {
        data += d;
        if (data.includes("\n")) socket.destroy();
      });
      socket.on("close", () => resolve(data));
      socket.on("error", () => resolve(""));
    });
    if (banner.startsWith("SSH-")) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd did not answer on port ${port}:\n${await log()}`);
}

/** Every live process below `pid` (sshd forks a process per connection, in its own session). */
export function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  // synchronous: this also runs from a process 'exit' handler
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = parents.get(ppid) ?? [];
      list.push(Number(entry));
      parents.set(ppid, list);
    } catch {
      // the process ended while we looked
    }
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of parents.get(queue.shift()!) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}


function killTree(pid: number): void {
  for (const p of [pid, ...descendants(pid)]) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

export async function startSshd(): Promise<SshdHandle> {
  const sshd = await ensureSshd();
  // privilege separation needs this folder; the Debian package creates it only at boot
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 }).catch(() => undefined);
  const dir = await mkdtemp(join(tmpdir(), "gage-sshd-"));
  const home = join(dir, "home");
  const root = join(dir, "data");
  const sshDir = join(home, ".ssh");
  await mkdir(sshDir, { recursive: true, mode: 0o700 });
  await mkdir(root);
  const hostKeyFile = join(dir, "ssh_host_ed25519_key");
  const identityFile = join(sshDir, "id_ed25519");
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "gage-test-host", "-f", hostKeyFile]);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "gage-test-client", "-f", identityFile]);
  const hostKey = (await readFile(`${hostKeyFile}.pub`, "utf8")).trim().split(/\s+/).slice(0, 2).join(" ");
  const authorizedKeys = join(dir, "authorized_keys");
  await writeFile(authorizedKeys, await readFile(`${identityFile}.pub`));
  await chmod(authorizedKeys, 0o600);
  const user = userInfo().username;
  const logFile = join(dir, "sshd.log");
  const log = () => readFile(logFile, "utf8").catch(() => "(no log)");

  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const config = join(dir, "sshd_config");
    await writeFile(
      config,
      [
        `Port ${port}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${hostKeyFile}`,
        `PidFile ${join(dir, "sshd.pid")}`,
        `AuthorizedKeysFile ${authorizedKeys}`,
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "PermitRootLogin prohibit-password",
        // the temporary files live under /tmp, which StrictModes would reject
        "StrictModes no",
        `AllowUsers ${user}`,
        "Subsystem sftp internal-sftp",
        "LogLevel ERROR",
        "",
      ].join("\n"),
    );
    const child = spawn(sshd, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr!.on("data", (d: Buffer) => void writeFile(logFile, d, { flag: "a" }));
    // a test that fails before stop() must not hang its process: the exit handler kills sshd
    child.unref();
    (child.stderr as unknown as { unref(): void }).unref();
    const onExit = () => killTree(child.pid!);
    process.once("exit", onExit);
    try {
      await waitForBanner(port, child, log);
    } catch (err) {
      process.removeListener("exit", onExit);
      killTree(child.pid!);
      if (attempt < 3 && /Address already in use/i.test(await log())) continue;
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    const alias = "gage-test-sshd";
    await writeFile(join(sshDir, "known_hosts"), `[127.0.0.1]:${port} ${hostKey}\n`);
    await writeFile(
      join(sshDir, "config"),
      [`Host ${alias}`, "  HostName 127.0.0.1", `  Port ${port}`, `  User ${user}`, `  IdentityFile ${identityFile}`, ""].join("\n"),
    );
    let stopped = false;
    return {
      host: "127.0.0.1",
      port,
      user,
      alias,
      home,
      root,
      identityFile,
      hostKey,
      url: (path: string) => `ssh://${user}@127.0.0.1:${port}${path.startsWith("/") ? path : `/${path}`}`,
      env: { HOME: home, SSH_AUTH_SOCK: undefined },
      process: child,
      async stop() {
        if (stopped) return;
        stopped = true;
        process.removeListener("exit", onExit);
        const exited = new Promise<void>((resolve) =>
          child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("exit", () => resolve()),
        );
        // waiting for the exit must keep this process alive
        child.ref();
        killTree(child.pid!);
        await exited;
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
}
