import { existsSync, statSync } from "node:fs";
import type { Server } from "node:http";
import { isAbsolute, join, resolve } from "node:path";
import { serve } from "@hono/node-server";
import { UsageError } from "../errors.js";
import { findRemote, resolveRemote, type RemoteContext } from "../remotes/config.js";
import { createApp } from "./app.js";
import { defaultAssetsDir, loadAssets } from "./assets.js";
import { Auth, checkAuthOptions, isLoopback, type AuthOptions } from "./auth.js";
import { ServeListenError } from "./errors.js";
import { RunsDirSource } from "./local-source.js";
import type { RunSource } from "./source.js";
import { listKeys } from "../objects/index.js";
import type { Storage } from "../remotes/storage.js";
import { PlainStorageSource } from "./plain-source.js";
import { StoreSource } from "./store-source.js";

export const DEFAULT_PORT = 5051;
/** Ports tried after the default one when it is taken. */
const PORT_TRIES = 20;

export interface ServeOptions extends AuthOptions {
  source: RunSource;
  /** Default 127.0.0.1. */
  host?: string;
  /** Undefined: 5051, else the next free port; 0: any free port; else exactly this one. */
  port?: number;
  /** Serve under this path (behind a reverse proxy), e.g. `/gage`. */
  basePath?: string;
  /** The author of comments and labels when a login names none (the OS user). */
  author: string;
  /** The built front end (default: dist/web beside this module). */
  assetsDir?: string;
  now?: () => number;
  onError?: (err: Error) => void;
}

export interface RunningServer {
  /** Where to open it, e.g. `http://127.0.0.1:5051/`. */
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

/** `/prefix` without a trailing slash, or "" for the root. */
export function normalizeBasePath(path: string | undefined): string {
  if (path === undefined || path === "" || path === "/") return "";
  const p = "/" + path.replace(/^\/+|\/+$/g, "");
  if (!/^(\/[A-Za-z0-9._~-]+)+$/.test(p) || p.split("/").some((s) => s === "." || s === "..")) {
    throw new UsageError(`Bad --base-path '${path}'`, { hint: "Use a path such as /gage (letters, digits, '.', '_', '~', '-')." });
  }
  return p;
}

/**
 * Starts the web view. Checks the auth options for the bind address first (a non-loopback
 * address needs a token or `noAuth`), then listens.
 * @throws ServeAuthRequiredError, UsageError, ServeListenError
 */
export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const host = opts.host ?? "127.0.0.1";
  checkAuthOptions(host, opts);
  const basePath = normalizeBasePath(opts.basePath);
  const assets = loadAssets(opts.assetsDir ?? defaultAssetsDir());
  const auth = new Auth(opts, opts.now);
  const ports = opts.port === undefined ? Array.from({ length: PORT_TRIES }, (_, i) => DEFAULT_PORT + i) : [opts.port];
  let allowed: Set<string> | undefined;
  const app = createApp({
    source: opts.source,
    author: opts.author,
    now: opts.now ?? Date.now,
    auth,
    assets,
    basePath,
    get allowedHosts() {
      return allowed;
    },
    ...(opts.onError ? { onError: opts.onError } : {}),
  });
  for (const [i, port] of ports.entries()) {
    try {
      const server = await listen(app.fetch, host, port);
      const actual = (server.address() as { port: number }).port;
      const shown = host.includes(":") ? `[${host}]` : host;
      // An open loopback server is guarded by who can reach it; a page that renamed itself to
      // 127.0.0.1 (DNS rebinding) is kept out by the host name it asks for.
      if (isLoopback(host) && auth.open) allowed = new Set([`${shown}:${actual}`, `localhost:${actual}`, `127.0.0.1:${actual}`, `[::1]:${actual}`]);
      return {
        url: `http://${shown}:${actual}${basePath}/`,
        host,
        port: actual,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EADDRINUSE" && i < ports.length - 1) continue;
      const why = code === "EADDRINUSE" ? "it is in use" : code === "EADDRNOTAVAIL" ? "that address is not on this machine" : code === "EACCES" ? "permission denied" : (err as Error).message;
      throw new ServeListenError(`Cannot listen on ${host}:${port}: ${why}`, { cause: err, hint: "Choose another --port or --host." });
    }
  }
  throw new ServeListenError(`Cannot listen on ${host}: no free port`);
}

function listen(fetch: Parameters<typeof serve>[0]["fetch"], hostname: string, port: number): Promise<Server> {
  return new Promise((ok, fail) => {
    const server = serve({ fetch, hostname, port }) as Server;
    server.once("listening", () => ok(server));
    server.once("error", fail);
  });
}

/**
 * What `gage serve [SOURCE]` serves: the runs directory when SOURCE is omitted or is a folder
 * of runs; else a remote (a folder holding a store, a URL, or a configured remote name): a store,
 * or a runs directory in the plain layout that `gage copy` writes.
 */
export async function openSource(
  spec: string | undefined,
  ctx: RemoteContext & { runsDir: string; cwd: string; onWarning?: (msg: string) => void },
): Promise<RunSource> {
  const warn = ctx.onWarning ? { onWarning: ctx.onWarning } : {};
  if (spec === undefined) return new RunsDirSource(ctx.runsDir, warn);
  const remote = await findRemote(spec, ctx);
  if (remote.type === "git") return (await import("./git-source.js")).GitSource.open(remote, { ...ctx, ...warn });
  const path = isAbsolute(spec) || spec.startsWith(".") ? resolve(ctx.cwd, spec) : undefined;
  if (path !== undefined && existsSync(path) && statSync(path).isDirectory() && !["heads", "packs", "catalog"].some((d) => existsSync(join(path, d)))) {
    return new RunsDirSource(path, warn);
  }
  const storage = await resolveRemote(spec, ctx);
  try {
    const plain = await holdsPlainRuns(storage);
    return plain ? new PlainStorageSource(storage, { ownsStorage: true, ...warn }) : new StoreSource(storage, { ownsStorage: true, ...warn });
  } catch (err) {
    await storage.close();
    throw err;
  }
}

/** A storage without a store's keys whose first key is a run's holds the plain runs layout (`gage copy`'s). */
async function holdsPlainRuns(storage: Storage): Promise<boolean> {
  for (const prefix of ["heads/", "catalog/", "packs/"]) for await (const _ of listKeys(storage, prefix)) return false;
  for await (const key of listKeys(storage, "")) return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(\.meta|\.user|\.meta\.deleted)?\//i.test(key);
  return false;
}
