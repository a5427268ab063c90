/**
 * A real Git server for tests: Debian's `git http-backend` (CGI) behind a small Node HTTP server
 * on 127.0.0.1 and a free port, with Basic auth.
 *
 *   const server = await startGitHttp({ users: { alice: "s3cret" } });
 *   const bare = await server.createRepo("team");       // an empty bare repository
 *   // gage push git+${server.url("team")} with GAGE_GIT_USERNAME=alice GAGE_GIT_TOKEN=s3cret
 *   await server.stop();
 *
 * Every request needs a known user and password (401 otherwise), so pushes and fetches both test
 * credentials. `requests` counts the requests served (a test can tell that nothing was sent).
 * When `git` is missing it is installed once with apt-get, under the same lock file as sshd's
 * install; when that is impossible, `ensureGit` throws: Git tests fail, they never pass silently.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { installDebianPackages } from "./apt.js";

const run = promisify(execFile);
const BACKEND = "/usr/lib/git-core/git-http-backend";

let installing: Promise<void> | undefined;

/** Debian's `git` (with git-http-backend), installed with apt-get when missing and we are root. */
export function ensureGit(): Promise<void> {
  installing ??= installDebianPackages("Debian's git with git-http-backend (for the Git tests)", ["git"], () => existsSync(BACKEND) && existsSync("/usr/bin/git"));
  return installing;
}

/** Runs plain `git` (a colleague without gage), failing with its stderr. */
export async function git(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  await ensureGit();
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: "Plain Git",
    GIT_AUTHOR_EMAIL: "plain@example.com",
    GIT_COMMITTER_NAME: "Plain Git",
    GIT_COMMITTER_EMAIL: "plain@example.com",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_TERMINAL_PROMPT: "0",
    ...opts.env,
  };
  const { stdout } = await run("git", args, { cwd: opts.cwd, env, maxBuffer: 256 * 1024 * 1024 });
  return stdout;
}

/** Makes an empty bare repository at `path`. */
export async function initBare(path: string): Promise<string> {
  await git(["init", "-q", "--bare", path]);
  return path;
}

export interface GitHttpServer {
  port: number;
  /** The repositories' parent folder on the server side. */
  root: string;
  /** `http://127.0.0.1:PORT/NAME.git` */
  url(name: string): string;
  /** Makes an empty bare repository `NAME.git` and returns its path. */
  createRepo(name: string): Promise<string>;
  /** Requests served so far. */
  readonly requests: number;
  /** Pushes received so far (POSTs to git-receive-pack, whatever their outcome). */
  readonly pushes: number;
  stop(): Promise<void>;
}

export async function startGitHttp(opts: { users: Record<string, string> }): Promise<GitHttpServer> {
  await ensureGit();
  const root = await mkdtemp(join(tmpdir(), "gage-git-http-"));
  let requests = 0;
  let pushes = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    if (req.method === "POST" && req.url?.endsWith("/git-receive-pack")) pushes++;
    const user = authorized(req, opts.users);
    if (user === undefined) {
      res.writeHead(401, { "WWW-Authenticate": 'Basic realm="git"', "Content-Type": "text/plain" });
      res.end("Unauthorized\n");
      return;
    }
    serveCgi(req, res, root, user);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  let stopped = false;
  return {
    port,
    root,
    url: (name) => `http://127.0.0.1:${port}/${name}.git`,
    createRepo: async (name) => {
      const path = await initBare(join(root, `${name}.git`));
      // Receive-pack is on for authenticated users (REMOTE_USER); this says so for any server config.
      await git(["config", "http.receivepack", "true"], { cwd: path });
      return path;
    },
    get requests() {
      return requests;
    },
    get pushes() {
      return pushes;
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(root, { recursive: true, force: true });
    },
  };
}

function authorized(req: IncomingMessage, users: Record<string, string>): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined || !header.startsWith("Basic ")) return undefined;
  const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  const [user, password] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
  return colon > 0 && Object.hasOwn(users, user) && users[user] === password ? user : undefined;
}

function serveCgi(req: IncomingMessage, res: ServerResponse, root: string, user: string): void {
  const url = new URL(req.url ?? "/", "http://127.0.0.1");
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: "1",
    GIT_CONFIG_NOSYSTEM: "1",
    REQUEST_METHOD: req.method ?? "GET",
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.slice(1),
    CONTENT_TYPE: req.headers["content-type"] ?? "",
    REMOTE_USER: user,
    REMOTE_ADDR: "127.0.0.1",
    GIT_HTTP_MAX_REQUEST_BUFFER: "1000M",
  };
  if (req.headers["content-length"] !== undefined) env.CONTENT_LENGTH = req.headers["content-length"];
  if (req.headers["content-encoding"] !== undefined) env.HTTP_CONTENT_ENCODING = req.headers["content-encoding"];
  if (req.headers["git-protocol"] !== undefined) env.GIT_PROTOCOL = String(req.headers["git-protocol"]);
  const cgi = spawn(BACKEND, [], { env, stdio: ["pipe", "pipe", "pipe"] });
  req.pipe(cgi.stdin);
  cgi.stdin.on("error", () => undefined);
  let head = Buffer.alloc(0);
  let headersDone = false;
  cgi.stdout.on("data", (chunk: Buffer) => {
    if (headersDone) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf("\r\n\r\n");
    const endLf = head.indexOf("\n\n");
    const at = end >= 0 ? end : endLf;
    if (at < 0) return;
    const sep = end >= 0 ? 4 : 2;
    const lines = head.subarray(0, at).toString("latin1").split(/\r?\n/);
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === "status") status = Number.parseInt(value, 10);
      else headers[name] = value;
    }
    headersDone = true;
    res.writeHead(status, headers);
    res.write(head.subarray(at + sep));
  });
  cgi.stdout.on("end", () => res.end());
  cgi.on("error", () => {
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
}
