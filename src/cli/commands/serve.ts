import { spawn } from "node:child_process";
import { homedir } from "node:os";
import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { DEFAULT_PORT, openSource, startServer } from "../../serve/server.js";
import { cliAuthor, cliRunsDir, warn, type CliContext } from "../context.js";

interface ServeCliOptions {
  host: string;
  port?: string;
  basePath?: string;
  open?: boolean;
  token?: string;
  readToken?: string;
  auth: boolean;
}

export function registerServe(program: Command, ctx: CliContext): void {
  program
    .command("serve")
    .summary("view, compare and comment on runs in a browser")
    .description(
      "Serve a web view of runs until Ctrl-C: the runs table, each run's flags, attributes, output, files " +
        "and comments, side-by-side comparison, and a JSON API (docs/serve.md).\n\n" +
        "SOURCE is the runs directory (default), a folder of runs, a store remote (a folder, " +
        "s3://bucket/prefix, ssh://host/path), a Git remote (git+https://HOST/PATH, a bare repository; " +
        "served read-only) or a configured remote name. Remote runs are read lazily; " +
        "new pushes show up without a restart.\n\n" +
        "On 127.0.0.1 (the default) the view is open to this machine. Any other --host needs --token " +
        "(or GAGE_SERVE_TOKEN), and --read-token for view-only access, unless --no-auth.",
    )
    .argument("[source]", "runs directory or remote (default: the runs directory)")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("-p, --port <port>", `port (default ${DEFAULT_PORT}, or the next free one)`)
    .option("--base-path <path>", "serve under this path, behind a reverse proxy (e.g. /gage)")
    .option("--open", "open the view in a browser (\$BROWSER, else the system opener)")
    .option("--token <token>", "token for reading and writing (default: $GAGE_SERVE_TOKEN)")
    .option("--read-token <token>", "token for view-only access")
    .option("--no-auth", "serve a non-loopback address without a token (anyone who reaches it can comment)")
    .action(async (spec: string | undefined, opts: ServeCliOptions) => {
      let port: number | undefined;
      if (opts.port !== undefined) {
        port = Number(opts.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number, got '${opts.port}'`);
      }
      const token = opts.token ?? (ctx.env.GAGE_SERVE_TOKEN || undefined);
      const source = await openSource(spec, {
        runsDir: cliRunsDir(ctx),
        cwd: ctx.cwd,
        env: ctx.env,
        home: ctx.env.HOME || homedir(),
        onWarning: (m) => warn(ctx, m),
      });
      let server;
      try {
        server = await startServer({
          source,
          host: opts.host,
          ...(port === undefined ? {} : { port }),
          ...(opts.basePath === undefined ? {} : { basePath: opts.basePath }),
          ...(token === undefined ? {} : { token }),
          ...(opts.readToken === undefined ? {} : { readToken: opts.readToken }),
          noAuth: !opts.auth,
          author: cliAuthor(ctx),
          onError: (err) => ctx.stderr.write(`gage: serve: ${err.stack ?? err.message}\n`),
        });
      } catch (err) {
        await source.close();
        throw err;
      }
      if (!opts.auth) warn(ctx, `serving ${opts.host} without a token: anyone who can reach it can read runs and add comments`);
      ctx.stdout.write(`Serving ${source.location} at ${server.url}\nPress Ctrl-C to stop.\n`);
      if (opts.open) openBrowser(ctx, server.url);
      await new Promise<void>((done) => {
        const dispose = ctx.onInterrupt(() => {
          dispose();
          done();
        });
      });
      await server.close();
      await source.close();
    });
}

/** Opens `url` with `$BROWSER` (a command; `%s` stands for the URL, else it is the last argument), else the platform's opener. */
function openBrowser(ctx: CliContext, url: string): void {
  const custom = ctx.env.BROWSER?.trim().split(/\s+/).filter((w) => w !== "");
  const [cmd, ...args] =
    custom !== undefined && custom.length > 0
      ? custom.some((w) => w.includes("%s"))
        ? custom.map((w) => w.replaceAll("%s", url))
        : [...custom, url]
      : [process.platform === "darwin" ? "open" : process.platform === "win32" ? "explorer" : "xdg-open", url];
  const child = spawn(cmd!, args, { stdio: "ignore", detached: true, env: ctx.env });
  child.on("error", () => warn(ctx, `cannot open a browser (${cmd}): open ${url} yourself, or set BROWSER`));
  child.unref();
}
