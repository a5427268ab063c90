import * as fs from "node:fs";
import { mkdir, open, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { BackendSettings } from "../backend.js";
import { AuthError, PermissionError, RemoteError, UnreachableError } from "../errors.js";
import { formatGitLocation, redactUrl, type GitLocation } from "../url.js";
import { credentialSources, gitCredentials, type GitCredentials } from "./credentials.js";
import { GitObjectStore, isGitOid, loadIsomorphicGit, type GitOid } from "./objects.js";
import { DEFAULT_BRANCH } from "./options.js";

/**
 * A Git repository as sync uses it: one branch, read after `fetch` from `objects`, and moved
 * forward by `publish`, which never forces: it answers false when the branch moved meanwhile.
 */
export interface GitRepo {
  /** The remote's URL as the user gave it (no secrets), `#BRANCH` included when named. */
  readonly url: string;
  readonly branch: string;
  /** Where the branch's objects are read after `fetch`, and where new ones are written. */
  readonly objects: GitObjectStore;
  /**
   * Brings the branch's objects here (a bare repository is read in place; over HTTP(S) only what
   * the cache lacks is fetched) and returns its tip, undefined when the branch does not exist yet.
   */
  fetch(): Promise<GitOid | undefined>;
  /** The branch's tip as the remote lists it now (nothing fetched); undefined when it does not exist yet. */
  tip(): Promise<GitOid | undefined>;
  /** Moves the branch from `from` to `to` (a descendant): false when it is no longer at `from`. */
  publish(from: GitOid | undefined, to: GitOid): Promise<boolean>;
  /** Checks that this side may move the branch (push permission), sending nothing. */
  checkWrite(): Promise<void>;
}

export interface OpenGitRepoOptions {
  settings: BackendSettings;
  env: NodeJS.ProcessEnv;
  /** A folder of this side's own for the fetched objects of an HTTP(S) remote (kept between runs). */
  cacheDir: string;
}

export function gitBranch(location: GitLocation, settings: BackendSettings): string {
  return location.branch ?? (settings.branch as string | undefined) ?? DEFAULT_BRANCH;
}

/** Opens a Git remote; an HTTP(S) one reads its credentials now (see `gitCredentials`). */
export async function openGitRepo(location: GitLocation, opts: OpenGitRepoOptions): Promise<GitRepo> {
  const branch = gitBranch(location, opts.settings);
  const url = redactUrl(formatGitLocation(location));
  if (location.transport === "file") return new BareRepo(location.path, branch, url);
  const credentials = await gitCredentials(location.url, opts.settings, opts.env);
  return HttpRepo.open(location.url, branch, url, opts.cacheDir, credentials, credentialSources(opts.settings));
}

const STALE_LOCK_MS = 10 * 60 * 1000;

/** A bare repository on a local or shared filesystem: read in place, its ref moved under git's own lock. */
class BareRepo implements GitRepo {
  readonly objects: GitObjectStore;
  constructor(
    readonly path: string,
    readonly branch: string,
    readonly url: string,
  ) {
    this.objects = new GitObjectStore(path);
  }

  async fetch(): Promise<GitOid | undefined> {
    if (!fs.existsSync(join(this.path, "objects"))) throw new RemoteError("NOT_FOUND", this.url, `No Git repository at ${this.path}`, { hint: "Make one with 'git init --bare PATH'." });
    return resolveBranch(this.path, this.branch);
  }

  tip(): Promise<GitOid | undefined> {
    return this.fetch();
  }

  async publish(from: GitOid | undefined, to: GitOid): Promise<boolean> {
    this.objects.flush();
    const ref = join(this.path, "refs", "heads", ...this.branch.split("/"));
    const lock = `${ref}.lock`;
    await mkdir(join(ref, ".."), { recursive: true });
    let handle;
    try {
      handle = await open(lock, "wx", 0o644);
    } catch (err) {
      // Another writer holds git's lock on the branch: as if it moved (the caller fetches again).
      // A lock that old was left by a killed writer (one holds it for a write and a rename).
      if ((err as NodeJS.ErrnoException).code === "EEXIST") {
        if (Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > STALE_LOCK_MS) await unlink(lock).catch(() => undefined);
        return false;
      }
      throw mapFsError(err, this.url);
    }
    let renamed = false;
    try {
      if ((await resolveBranch(this.path, this.branch)) !== from) return false;
      await handle.writeFile(`${to}\n`);
      await handle.sync();
      await handle.close();
      handle = undefined;
      await rename(lock, ref);
      renamed = true;
      return true;
    } finally {
      await handle?.close();
      if (!renamed) await unlink(lock).catch(() => undefined);
    }
  }

  async checkWrite(): Promise<void> {
    try {
      fs.accessSync(join(this.path, "refs"), fs.constants.W_OK);
      fs.accessSync(join(this.path, "objects"), fs.constants.W_OK);
    } catch (err) {
      throw mapFsError(err, this.url);
    }
  }
}

/** The oid a ref names, read from the repository's files as git leaves them (loose, then `packed-refs`). */
async function resolveBranch(gitdir: string, branch: string, prefix = "refs/heads/"): Promise<GitOid | undefined> {
  let ref = `${prefix}${branch}`;
  for (let hops = 0; hops < 5; hops++) {
    let text: string | undefined;
    try {
      text = fs.readFileSync(join(gitdir, ...ref.split("/")), "latin1").trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR" && code !== "EISDIR") throw err;
    }
    if (text === undefined) return packedRef(gitdir, ref);
    if (isGitOid(text)) return text;
    const m = /^ref: (refs\/\S+)$/.exec(text);
    if (!m) return undefined;
    ref = m[1]!;
  }
  return undefined;
}

function packedRef(gitdir: string, ref: string): GitOid | undefined {
  let text: string;
  try {
    text = fs.readFileSync(join(gitdir, "packed-refs"), "latin1");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  for (const line of text.split("\n")) {
    const [oid, name] = line.trim().split(" ");
    if (name === ref && isGitOid(oid)) return oid;
  }
  return undefined;
}

function mapFsError(err: unknown, url: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") return new PermissionError(url, `${url} cannot be written: ${(err as Error).message}`, { cause: err });
  return err;
}

const REMOTE_NAME = "gage";

type HttpClient = typeof import("isomorphic-git/http/node").default;

async function loadHttp(): Promise<HttpClient> {
  const m = (await import("isomorphic-git/http/node")) as { default: HttpClient | { default: HttpClient } };
  return "request" in m.default ? m.default : m.default.default;
}

/** A repository over HTTP(S) through isomorphic-git, its objects fetched into a cache folder of ours. */
class HttpRepo implements GitRepo {
  readonly objects: GitObjectStore;
  readonly #headers: Record<string, string>;

  private constructor(
    readonly remoteUrl: string,
    readonly branch: string,
    readonly url: string,
    readonly cacheDir: string,
    readonly credentials: GitCredentials | undefined,
    readonly sources: string,
  ) {
    this.objects = new GitObjectStore(cacheDir);
    // Sent with the first request: isomorphic-git would otherwise ask once anonymously, then again.
    // Each call gets a copy: isomorphic-git adds its protocol header to the object it is given.
    this.#headers = credentials === undefined ? {} : { Authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}` };
  }

  static async open(remoteUrl: string, branch: string, url: string, cacheDir: string, credentials: GitCredentials | undefined, sources: string): Promise<HttpRepo> {
    const git = await loadIsomorphicGit();
    if (!fs.existsSync(join(cacheDir, "HEAD"))) {
      await mkdir(cacheDir, { recursive: true });
      await git.init({ fs, gitdir: cacheDir, bare: true, defaultBranch: branch });
    }
    await git.setConfig({ fs, gitdir: cacheDir, path: `remote.${REMOTE_NAME}.url`, value: remoteUrl });
    await git.setConfig({ fs, gitdir: cacheDir, path: `remote.${REMOTE_NAME}.fetch`, value: `+refs/heads/*:refs/remotes/${REMOTE_NAME}/*` });
    return new HttpRepo(remoteUrl, branch, url, cacheDir, credentials, sources);
  }

  async fetch(): Promise<GitOid | undefined> {
    const git = await loadIsomorphicGit();
    const http = await loadHttp();
    // isomorphic-git moves its tracking ref before it saves the pack: after a killed fetch the ref
    // may name a commit missing here, which the next fetch would claim to have. It goes.
    const tracking = `refs/remotes/${REMOTE_NAME}/${this.branch}`;
    const tracked = await resolveBranch(this.cacheDir, this.branch, `refs/remotes/${REMOTE_NAME}/`);
    if (tracked !== undefined && !(await this.objects.has(tracked))) await git.deleteRef({ fs, gitdir: this.cacheDir, ref: tracking });
    const result = await this.#call(() =>
      git.fetch({ fs, http: withHeadNamed(http, this.branch), gitdir: this.cacheDir, url: this.remoteUrl, remote: REMOTE_NAME, ref: this.branch, singleBranch: true, tags: false, headers: { ...this.#headers } }),
    );
    this.objects.refresh();
    return isGitOid(result.fetchHead) ? result.fetchHead : undefined;
  }

  async tip(): Promise<GitOid | undefined> {
    const git = await loadIsomorphicGit();
    const http = await loadHttp();
    const ref = `refs/heads/${this.branch}`;
    const refs = await this.#call(() => git.listServerRefs({ http, url: this.remoteUrl, prefix: ref, headers: { ...this.#headers } }));
    const oid = refs.find((r) => r.ref === ref)?.oid;
    return isGitOid(oid) ? oid : undefined;
  }

  async publish(_from: GitOid | undefined, to: GitOid): Promise<boolean> {
    const git = await loadIsomorphicGit();
    const http = await loadHttp();
    this.objects.flush();
    await git.writeRef({ fs, gitdir: this.cacheDir, ref: `refs/heads/${this.branch}`, value: to, force: true });
    try {
      const result = await this.#call(() =>
        git.push({ fs, http, gitdir: this.cacheDir, url: this.remoteUrl, remote: REMOTE_NAME, ref: this.branch, remoteRef: `refs/heads/${this.branch}`, headers: { ...this.#headers } }),
      );
      return result.ok && result.refs[`refs/heads/${this.branch}`]?.ok !== false;
    } catch (err) {
      // The branch moved since it was fetched: its new tip is unknown here, or not an ancestor.
      const code = (err as { code?: string }).code;
      if (code === "PushRejectedError" || code === "NotFoundError" || code === "GitPushError") return false;
      throw err;
    }
  }

  async checkWrite(): Promise<void> {
    const git = await loadIsomorphicGit();
    const http = await loadHttp();
    await this.#call(() => git.getRemoteInfo({ http, url: this.remoteUrl, forPush: true, headers: { ...this.#headers } }));
  }

  /** Runs an isomorphic-git call, its failures as our remote errors (a refused token is never printed). */
  async #call<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw mapHttpError(err, this.url, this.credentials, this.sources);
    }
  }
}

/**
 * The HTTP client with the fetch advertisement naming the server's HEAD as `branch` when the server
 * names none: a repository whose HEAD is an unborn branch (one that holds only gage-runs) advertises
 * no HEAD, and isomorphic-git, looking it up after the fetch, fails there before saving the pack.
 */
function withHeadNamed(http: HttpClient, branch: string): HttpClient {
  return {
    async request(req) {
      const res = await http.request(req);
      if (req.method !== "GET" || !/\/info\/refs\?service=git-upload-pack$/.test(req.url) || res.statusCode !== 200) return res;
      const chunks: Uint8Array[] = [];
      for await (const chunk of res.body ?? []) chunks.push(chunk);
      return { ...res, body: [addHeadSymref(Buffer.concat(chunks), branch)][Symbol.iterator]() as unknown as AsyncIterableIterator<Uint8Array> };
    },
  };
}

/** The advertisement with `symref=HEAD:refs/heads/BRANCH` on its first ref line, unless it names HEAD already. */
export function addHeadSymref(body: Buffer, branch: string): Buffer {
  const lines: Buffer[] = [];
  let at = 0;
  while (at + 4 <= body.length) {
    const len = Number.parseInt(body.toString("latin1", at, at + 4), 16);
    if (!Number.isInteger(len) || (len !== 0 && len < 4) || at + Math.max(len, 4) > body.length) return body;
    lines.push(body.subarray(at, at + Math.max(len, 4)));
    at += Math.max(len, 4);
  }
  const first = lines.findIndex((l) => l.length > 4 && !l.subarray(4).toString("latin1").startsWith("#"));
  if (first < 0) return body;
  const text = lines[first]!.subarray(4).toString("latin1");
  const nul = text.indexOf("\0");
  if (nul < 0 || text.includes("symref=HEAD:") || text.slice(41, nul).startsWith("capabilities^{}")) return body;
  const line = `${text.slice(0, text.endsWith("\n") ? -1 : undefined)} symref=HEAD:refs/heads/${branch}\n`;
  lines[first] = Buffer.concat([Buffer.from((line.length + 4).toString(16).padStart(4, "0"), "latin1"), Buffer.from(line, "latin1")]);
  return Buffer.concat(lines);
}

const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE"]);

function mapHttpError(err: unknown, url: string, credentials: GitCredentials | undefined, sources: string): unknown {
  const e = err as { code?: string; data?: { statusCode?: number }; message?: string };
  const status = e.code === "HttpError" ? e.data?.statusCode : undefined;
  if (status === 401 || status === 403) {
    const message =
      credentials === undefined
        ? `${url} needs credentials (HTTP ${status}), and none were found`
        : `${url} refused the credentials from ${credentials.source} (HTTP ${status})`;
    return new AuthError(url, message, { cause: err, hint: `Credentials are read from ${sources}.` });
  }
  if (status === 404) return new RemoteError("NOT_FOUND", url, `No Git repository at ${url} (HTTP 404)`, { cause: err, hint: "Check the URL; the repository must exist (the branch is made by the first push)." });
  if (status !== undefined && status >= 500) return new UnreachableError(url, `${url} failed (HTTP ${status})`, { cause: err });
  if (e.code !== undefined && NETWORK_CODES.has(e.code)) return new UnreachableError(url, `Cannot reach ${url} (${e.code})`, { cause: err });
  return err;
}
