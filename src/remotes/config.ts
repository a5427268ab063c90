import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { ConfigError } from "../errors.js";
import type { BackendSettings } from "./backend.js";
import { checkGitSettings } from "./git/options.js";
import { openLocation, type OpenStorageOptions } from "./open.js";
import { checkSettings, redactSettings, storageTypes } from "./registry.js";
import type { Storage } from "./storage.js";
import { RemoteUrlError } from "./errors.js";
import { formatGitLocation, formatLocation, parseGitUrl, parseStorageUrl, redactUrl, type GitLocation, type StorageLocation, type StorageType } from "./url.js";

/** Where to look for config and how to resolve paths: the library never reads `process.*` for these. */
export interface RemoteContext {
  /** The project folder: `gageconfig.toml` and `.gage/config.toml` are read here, relative paths resolve here. */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Default `env.HOME`, then the OS home: `~/.gage/config.toml` is read here. */
  home?: string;
}

/** A remote as configured (or as given by URL), before it is opened: a store on a Storage, or a Git repository. */
export type RemoteSpec = StoreRemoteSpec | GitRemoteSpec;

interface RemoteSpecBase {
  /** The `[repos.NAME]` name; undefined for a URL or path given directly. */
  name: string | undefined;
  /** Where it is, as `Storage.url` will report it (an absolute path for a local folder). */
  url: string;
  /** The backend's options from the config (`endpoint`, `region`, `identity_file`, `concurrency`...). */
  settings: BackendSettings;
  /** The config file that defines it. */
  source: string | undefined;
}

export interface StoreRemoteSpec extends RemoteSpecBase {
  type: StorageType;
  location: StorageLocation;
}

/** A Git repository whose branch is a plain runs directory (src/remotes/git, src/sync/git). */
export interface GitRemoteSpec extends RemoteSpecBase {
  type: "git";
  location: GitLocation;
}

/** The config files, most specific first: the first that defines a name wins. */
export function remoteConfigFiles(ctx: RemoteContext): { file: string; base: string }[] {
  const home = homeOf(ctx);
  const files: { file: string; base: string }[] = [];
  if (ctx.cwd !== undefined) {
    files.push({ file: join(ctx.cwd, "gageconfig.toml"), base: ctx.cwd }, { file: join(ctx.cwd, ".gage", "config.toml"), base: ctx.cwd });
  }
  files.push({ file: join(home, ".gage", "config.toml"), base: home });
  return files;
}

function homeOf(ctx: RemoteContext): string {
  return ctx.home ?? ctx.env?.HOME ?? homedir();
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

async function readRepos(file: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
    throw new ConfigError(`Cannot read ${file}: ${(err as Error).message}`, { file, cause: err });
  }
  // Loaded only when a config file exists: most commands find none, and loading it costs each one.
  const { parse: parseToml } = await import("smol-toml");
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`${file} is not valid TOML: ${(err as Error).message.split("\n")[0]}`, { file, cause: err });
  }
  const repos = doc.repos;
  if (repos === undefined) return undefined;
  if (typeof repos !== "object" || repos === null || Array.isArray(repos)) {
    throw new ConfigError(`'repos' in ${file} must be a table of [repos.NAME] tables`, { file });
  }
  return repos as Record<string, unknown>;
}

function specOf(name: string, raw: unknown, file: string, base: string, home: string): RemoteSpec {
  const where = `[repos.${name}] in ${file}`;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new ConfigError(`${where} must be a table`, { file });
  const { type, url, path, ...rest } = raw as Record<string, unknown>;
  if (type !== undefined && type !== "git" && !(typeof type === "string" && (storageTypes as string[]).includes(type))) {
    throw new ConfigError(`${where}: unknown type '${String(type)}'`, { file, hint: `Types: ${storageTypes.join(", ")}.` });
  }
  if (url !== undefined && path !== undefined) throw new ConfigError(`${where}: give 'url' or 'path', not both`, { file });
  const target = url ?? path;
  if (typeof target !== "string" || target === "") {
    throw new ConfigError(`${where} needs a 'url' (or a 'path' for a local folder)`, { file });
  }
  if (path !== undefined && type !== undefined && type !== "local") {
    throw new ConfigError(`${where}: 'path' is for local remotes; use 'url' for a ${type} remote`, { file });
  }
  const expanded = target.replace(/^~(?=\/|$)/, home);
  let git: GitLocation | undefined;
  try {
    git = path === undefined ? parseGitUrl(expanded, base) : undefined;
  } catch (err) {
    throw new ConfigError(`${where}: ${(err as Error).message}`, { file, hint: (err as RemoteUrlError).hint, cause: err });
  }
  if (git !== undefined || type === "git") {
    if (git === undefined) throw new ConfigError(`${where}: type is 'git' but '${redactUrl(target)}' is not a Git URL or bare repository`, { file });
    return { name, type: "git", url: formatGitLocation(git), location: git, settings: checkGitSettings({ type, ...rest }, where), source: file };
  }
  let location: StorageLocation;
  try {
    location = path !== undefined ? { type: "local", path: resolve(base, expanded) } : parseStorageUrl(expanded, base);
  } catch (err) {
    throw new ConfigError(`${where}: ${(err as Error).message}`, { file, cause: err });
  }
  if (type !== undefined && type !== location.type) {
    throw new ConfigError(`${where}: type is '${type}' but '${redactUrl(target)}' is a ${location.type} URL`, { file });
  }
  return {
    name,
    type: location.type,
    url: formatLocation(location),
    location,
    settings: checkSettings(location.type, rest, where),
    source: file,
  };
}

/** Every configured remote, the project's first; a name defined twice is listed once (the winner). */
export async function listRemotes(ctx: RemoteContext = {}): Promise<RemoteSpec[]> {
  const home = homeOf(ctx);
  const seen = new Map<string, RemoteSpec>();
  for (const { file, base } of remoteConfigFiles(ctx)) {
    const repos = await readRepos(file);
    for (const [name, raw] of Object.entries(repos ?? {})) {
      if (!NAME.test(name)) throw new ConfigError(`Bad remote name '${name}' in ${file}`, { file, hint: "Names use letters, digits, '_', '.' and '-'." });
      if (!seen.has(name)) seen.set(name, specOf(name, raw, file, base, home));
    }
  }
  return [...seen.values()];
}

/**
 * A configured name, or a URL or path. A bare word (no `/`, `:` or leading `.`) must be a
 * configured name: a typo never becomes a new folder (write `./NAME` for a local folder).
 * @throws ConfigError for an unknown name or a bad config; RemoteUrlError for a bad URL.
 */
export async function findRemote(nameOrUrl: string, ctx: RemoteContext = {}): Promise<RemoteSpec> {
  const remotes = await listRemotes(ctx);
  const named = remotes.find((r) => r.name === nameOrUrl);
  if (named) return named;
  const git = parseGitUrl(nameOrUrl, ctx.cwd);
  if (git !== undefined) return { name: undefined, type: "git", url: formatGitLocation(git), location: git, settings: {}, source: undefined };
  if (NAME.test(nameOrUrl) && !nameOrUrl.startsWith(".")) {
    const known = remotes.map((r) => r.name).join(", ");
    throw new ConfigError(`No remote named '${nameOrUrl}'`, {
      hint: `${known ? `Configured remotes: ${known}. ` : ""}Define it as [repos.${nameOrUrl}] in gageconfig.toml or ~/.gage/config.toml, or give a URL or path (./${nameOrUrl} for a local folder).`,
    });
  }
  const location = parseStorageUrl(nameOrUrl, ctx.cwd);
  return { name: undefined, type: location.type, url: formatLocation(location), location, settings: {}, source: undefined };
}

/** Opens a remote by name or URL, as `openStorage` does (retry and concurrency included). */
export async function resolveRemote(
  nameOrUrl: string,
  ctx: RemoteContext & Omit<OpenStorageOptions, "settings"> = {},
): Promise<Storage> {
  const spec = await findRemote(nameOrUrl, ctx);
  return openRemoteSpec(spec, ctx);
}

/** @throws RemoteUrlError for a Git remote: it is no Storage (src/sync/git reaches it). */
export function openRemoteSpec(spec: RemoteSpec, ctx: RemoteContext & Omit<OpenStorageOptions, "settings"> = {}): Promise<Storage> {
  if (spec.type === "git") {
    return Promise.reject(new RemoteUrlError(redactUrl(spec.url), `${redactUrl(spec.url)} is a Git remote, not a store`, { hint: "Git remotes work with push, pull, clone, status, ls --remote, remote check and copy." }));
  }
  const origin = spec.name === undefined || spec.source === undefined ? undefined : `[repos.${spec.name}] of ${spec.source}`;
  return openLocation(spec.location, { ...ctx, home: homeOf(ctx), settings: spec.settings, ...(origin === undefined ? {} : { origin }) });
}

/** A spec fit for display: secret settings as `***`, passwords in URLs removed. */
export function redactRemote(spec: RemoteSpec): RemoteSpec {
  if (spec.type === "git") return { ...spec, url: redactUrl(spec.url) };
  return { ...spec, url: redactUrl(spec.url), settings: redactSettings(spec.type, spec.settings) };
}
