import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { posix } from "node:path";
import { Readable } from "node:stream";
import ssh2, { type AuthMethod, type Client, type ConnectConfig, type ServerHostKeyAlgorithm, type SFTPWrapper, type Stats } from "ssh2";
import type { BackendSettings, OpenContext } from "../backend.js";
import { AuthError, HostKeyError, NameNotUtf8Error, NotRegularFileError, StoreNotFoundError, UnreachableError } from "../errors.js";
import { checkKey, checkRange, clampRange, TEMP_PREFIX } from "../keys.js";
import type { ByteRange, Storage, StorageEntry, StorageStat } from "../storage.js";
import { guardStream, readAll, toReadable } from "../streams.js";
import { formatLocation, shortPath } from "../url.js";
import { walkKeys, type FolderEntry } from "../walk.js";
import { resolveSshTarget, type SshLocation, type SshTarget } from "./config.js";
import { mapSftpError, SFTP_NO_SUCH_FILE } from "./errors.js";
import { SftpReader } from "./reader.js";
import { call, sessionGone } from "./call.js";
import { checkHostKey, fingerprint, knownHostsName, knownKeyTypes, readKnownHosts } from "./known-hosts.js";

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
/** Host key algorithms to ask for first, by the key types known_hosts holds for the host (as OpenSSH does). */
const HOST_KEY_ALGORITHMS: Record<string, ServerHostKeyAlgorithm[]> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
};
/** Keys remembered as regular files (a pull reads each pack many times). */
const MAX_REGULAR_KEYS = 100_000;
/** Writes in flight per put: enough to fill the pipe, few enough to bound memory. */
const WRITES_IN_FLIGHT = 16;

/**
 * A folder on an SSH server, through one SFTP session (SFTP pipelines requests, so one session
 * carries many calls at once). A put writes a temporary file beside the key, fsyncs it
 * (`fsync@openssh.com`) and renames it over the key with `posix-rename@openssh.com`, which
 * replaces atomically. A dropped connection is re-opened by the next call.
 */
export class SshStorage implements Storage {
  readonly url: string;
  private readonly root: string;
  private session: Promise<{ client: Client; sftp: SFTPWrapper }> | undefined;
  private readonly madeFolders = new Set<string>();
  /** Keys found to be regular files, so a second read of one costs no stat. */
  private readonly regularFiles = new Set<string>();
  private closed = false;

  constructor(
    location: SshLocation,
    private readonly connectConfig: () => Promise<ConnectConfig>,
    private readonly target: SshTarget,
    private readonly hostKeyCheck: (key: Buffer) => Promise<HostKeyError | undefined>,
  ) {
    this.url = formatLocation(location);
    this.root = location.path;
  }

  /** Connects (again, after a drop). */
  async connect(): Promise<SFTPWrapper> {
    if (this.closed) throw new UnreachableError(this.url, `The connection to ${this.url} was closed`, { retryable: false });
    this.session ??= this.openSession();
    try {
      return (await this.session).sftp;
    } catch (err) {
      this.session = undefined;
      throw err;
    }
  }

  private async openSession(): Promise<{ client: Client; sftp: SFTPWrapper }> {
    const client = new ssh2.Client();
    let hostKeyError: HostKeyError | undefined;
    const config: ConnectConfig = {
      ...(await this.connectConfig()),
      hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
        this.hostKeyCheck(key).then(
          (problem) => {
            hostKeyError = problem;
            verify(problem === undefined);
          },
          () => verify(false),
        );
      },
    };
    await new Promise<void>((resolve, reject) => {
      client.once("ready", () => resolve());
      client.once("error", (err: Error & { level?: string }) => {
        client.end();
        if (hostKeyError) reject(hostKeyError);
        else if (err.level === "client-authentication") {
          reject(
            new AuthError(this.url, `The SSH server refused every key for ${this.target.user}@${this.target.alias}`, {
              cause: err,
              hint: `Check the key (tried: agent${this.target.agent ? "" : " (none)"}, ${this.target.identityFiles.join(", ")}), the user name, and the server's authorized_keys; 'ssh -v ${this.target.user}@${this.target.alias}' shows what happens.`,
            }),
          );
        } else reject(mapSftpError(err, this.url));
      });
      client.connect(config);
    });
    // later errors (the server went away) end the session; pending calls fail on their own
    client.on("error", () => undefined);
    const gone = new Promise<never>((_, reject) =>
      client.once("close", () => {
        this.session = undefined;
        this.madeFolders.clear();
        reject(new UnreachableError(this.url, `The SSH connection for ${this.url} closed`));
      }),
    );
    gone.catch(() => undefined);
    const sftp = await call<SFTPWrapper>(client, (cb) => client.sftp(cb)).catch((err) => {
      client.end();
      throw mapSftpError(err, this.url);
    });
    sessionGone.set(sftp, gone);
    return { client, sftp };
  }

  private pathOf(key: string): string {
    return posix.join(this.root, checkKey(key));
  }

  private fail(err: unknown, key?: string): unknown {
    return mapSftpError(err, this.url, key);
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const path = this.pathOf(key);
    checkRange(range);
    const sftp = await this.connect();
    let handle: Buffer;
    try {
      // The server's open(2) of a FIFO blocks until a writer comes: look before opening.
      if (!this.regularFiles.has(key)) {
        const before = await call<Stats>(sftp, (cb) => sftp.stat(path, cb));
        if ((before.mode & S_IFMT) !== S_IFREG) throw new NotRegularFileError(this.url, key);
        if (this.regularFiles.size >= MAX_REGULAR_KEYS) this.regularFiles.clear();
        this.regularFiles.add(key);
      }
      handle = await call<Buffer>(sftp, (cb) => sftp.open(path, "r", cb));
    } catch (err) {
      throw this.fail(err, key);
    }
    try {
      const stats = await call<Stats>(sftp, (cb) => sftp.fstat(handle, cb));
      if ((stats.mode & S_IFMT) !== S_IFREG) throw new NotRegularFileError(this.url, key);
      const { start, end } = clampRange(range, stats.size);
      if (end === start) {
        await call<void>(sftp, (cb) => sftp.close(handle, cb));
        return Readable.from([]);
      }
      return guardStream(new SftpReader(sftp, handle, start, end), (err) => this.fail(err, key) as Error);
    } catch (err) {
      sftp.close(handle, () => undefined);
      throw this.fail(err, key);
    }
  }

  async getBytes(key: string, range?: ByteRange): Promise<Buffer> {
    return readAll(await this.get(key, range));
  }

  private async makeFolders(sftp: SFTPWrapper, folder: string): Promise<void> {
    if (folder === "." || folder === "/" || folder === "" || this.madeFolders.has(folder)) return;
    const stats = await call<Stats>(sftp, (cb) => sftp.stat(folder, cb)).catch(() => undefined);
    if (stats === undefined) {
      await this.makeFolders(sftp, posix.dirname(folder));
      await call<void>(sftp, (cb) => sftp.mkdir(folder, cb)).catch(async (err) => {
        // another put may have made it meanwhile
        const now = await call<Stats>(sftp, (cb) => sftp.stat(folder, cb)).catch(() => undefined);
        if (now === undefined || (now.mode & S_IFMT) !== S_IFDIR) throw err;
      });
    } else if ((stats.mode & S_IFMT) !== S_IFDIR) {
      throw Object.assign(new Error(`'${folder}' is a file, not a folder`), { code: "ENOTDIR" });
    }
    this.madeFolders.add(folder);
  }

  async put(key: string, data: Buffer | Uint8Array | Readable): Promise<void> {
    const path = this.pathOf(key);
    const folder = posix.dirname(path);
    const temp = posix.join(folder, `${TEMP_PREFIX}${randomBytes(8).toString("hex")}`);
    let sftp: SFTPWrapper | undefined;
    let handle: Buffer | undefined;
    try {
      sftp = await this.connect();
      const session = sftp;
      await this.makeFolders(session, folder);
      handle = await call<Buffer>(session, (cb) => session.open(temp, "wx", { mode: 0o644 }, cb));
      await writeAll(session, handle, toReadable(data));
      await call<void>(session, (cb) => session.ext_openssh_fsync(handle!, cb)).catch(() => undefined);
      const written = handle;
      handle = undefined;
      await call<void>(session, (cb) => session.close(written, cb));
      await call<void>(session, (cb) => session.ext_openssh_rename(temp, path, cb));
    } catch (err) {
      if (data instanceof Readable) data.destroy();
      if (sftp) {
        const session = sftp;
        if (handle) session.close(handle, () => undefined);
        session.unlink(temp, () => undefined);
      }
      throw this.fail(err, key);
    }
  }

  async stat(key: string): Promise<StorageStat | undefined> {
    const path = this.pathOf(key);
    const sftp = await this.connect();
    try {
      const stats = await call<Stats>(sftp, (cb) => sftp.stat(path, cb));
      return (stats.mode & S_IFMT) === S_IFREG ? { size: stats.size, mtimeMs: stats.mtime * 1000 } : undefined;
    } catch (err) {
      if ((err as { code?: unknown }).code === SFTP_NO_SUCH_FILE) return undefined;
      throw this.fail(err, key);
    }
  }

  async *list(prefix: string, options: { startAfter?: string } = {}): AsyncIterable<StorageEntry> {
    yield* walkKeys((rel) => this.readFolder(rel), prefix, options.startAfter, (key) => new NameNotUtf8Error(this.url, key));
  }

  private async readFolder(rel: string): Promise<FolderEntry[] | undefined> {
    const sftp = await this.connect();
    try {
      const folder = rel === "" ? this.root : posix.join(this.root, rel);
      const entries = await call<{ filename: string; attrs: Stats }[]>(sftp, (cb) => sftp.readdir(folder, cb));
      return entries.map((e) => {
        const type = e.attrs.mode & S_IFMT;
        return {
          name: e.filename,
          // ssh2 decodes names as UTF-8: a U+FFFD stands for bytes that are lost, so the entry could not be read back.
          kind: type !== S_IFDIR && type !== S_IFREG ? "other" : e.filename.includes("\uFFFD") ? "lost-name" : type === S_IFDIR ? "folder" : "file",
          size: e.attrs.size,
        };
      });
    } catch (err) {
      if ((err as { code?: unknown }).code === SFTP_NO_SUCH_FILE) return undefined;
      throw this.fail(err, rel);
    }
  }

  async rootExists(): Promise<boolean> {
    const sftp = await this.connect();
    let stats: Stats;
    try {
      stats = await call<Stats>(sftp, (cb) => sftp.stat(this.root, cb));
    } catch (err) {
      if ((err as { code?: unknown }).code === SFTP_NO_SUCH_FILE) return false;
      throw this.fail(err);
    }
    if ((stats.mode & S_IFMT) !== S_IFDIR) throw new StoreNotFoundError(this.url, `No store at ${shortPath(this.url)}: it is a file, not a folder`, { hint: "Name a folder for the remote." });
    return true;
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    this.regularFiles.delete(key);
    const sftp = await this.connect();
    try {
      await call<void>(sftp, (cb) => sftp.unlink(path, cb));
    } catch (err) {
      // a missing key, or a folder (which is no object): nothing to delete
      if ((await this.stat(key)) === undefined) return;
      throw this.fail(err, key);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const session = await this.session?.catch(() => undefined);
    session?.client.end();
  }
}

/** Streams `source` into an open SFTP file, keeping several writes in flight. */
async function writeAll(sftp: SFTPWrapper, handle: Buffer, source: Readable): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  let position = 0;
  let failure: unknown;
  for await (const data of source) {
    const chunk = data as Buffer;
    if (chunk.length === 0) continue;
    const at = position;
    position += chunk.length;
    const write = call<void>(sftp, (cb) => sftp.write(handle, chunk, 0, chunk.length, at, cb)).catch((err) => {
      failure ??= err;
    });
    const tracked = write.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    if (inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(inFlight);
    if (failure !== undefined) break;
  }
  await Promise.all(inFlight);
  if (failure !== undefined) throw failure;
}

export async function openSshStorage(location: SshLocation, settings: BackendSettings, ctx: OpenContext): Promise<Storage> {
  const target = await resolveSshTarget(location, settings, ctx);
  const url = formatLocation(location);
  const name = target.hostKeyName !== target.hostname ? target.hostKeyName : knownHostsName(target.hostname, target.port);
  const knownHosts = await readKnownHosts(target.knownHostsFiles);
  const connectConfig = async (): Promise<ConnectConfig> => {
    const auth: AuthMethod[] = [];
    if (target.agent) auth.push({ type: "agent", username: target.user, agent: target.agent } as AuthMethod);
    for (const file of target.identityFiles) {
      const text = await readFile(file).catch(() => undefined);
      if (text === undefined) continue;
      const parsed = ssh2.utils.parseKey(text);
      // a key that needs a passphrase cannot be used unattended: ssh-agent serves those
      if (parsed instanceof Error) continue;
      auth.push({ type: "publickey", username: target.user, key: text } as AuthMethod);
    }
    const preferred = knownKeyTypes(knownHosts, name).flatMap((t) => HOST_KEY_ALGORITHMS[t] ?? []);
    const config: ConnectConfig = {
      host: target.hostname,
      port: target.port,
      username: target.user,
      authHandler: auth,
      readyTimeout: 15_000,
      keepaliveInterval: 5_000,
      keepaliveCountMax: 3,
    };
    if (preferred.length > 0) config.algorithms = { serverHostKey: { prepend: preferred } } as ConnectConfig["algorithms"];
    return config;
  };
  const hostKeyCheck = async (key: Buffer): Promise<HostKeyError | undefined> => {
    const verdict = checkHostKey(knownHosts, name, key);
    if (verdict === "known") return undefined;
    const print = fingerprint(key);
    const portFlag = target.port === 22 ? "" : `-p ${target.port} `;
    const hint =
      verdict === "unknown"
        ? `Check that ${print} is the server's key (ask its admin, or run 'ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub' on it), then add it: 'ssh-keyscan ${portFlag}${target.hostname} >> ~/.ssh/known_hosts' (or connect once with 'ssh ${portFlag}${target.user}@${target.alias}' and answer yes).`
        : verdict === "changed"
          ? `If the server's key really changed (the server was reinstalled), remove the old entry with 'ssh-keygen -R "${name}"', then add the new key: 'ssh-keyscan ${portFlag}${target.hostname} >> ~/.ssh/known_hosts'.`
          : "This key is marked @revoked in known_hosts; ask the server's admin for its current key.";
    return new HostKeyError(url, name, verdict, print, { hint });
  };
  const storage = new SshStorage(location, connectConfig, target, hostKeyCheck);
  await storage.connect();
  return storage;
}
