/**
 * A real S3 HTTP server for tests: s3rver (npm), in a child process, on 127.0.0.1 and a free
 * port, storing into a fresh temporary folder (unless `S3rverOptions` say otherwise), with one
 * bucket created.
 *
 *   const s3 = await startS3rver();
 *   const storage = await openStorage(s3.url("runs"), { env: s3.env });
 *   // or: gage(["push", s3.url("runs")], { env: s3.env })
 *   await s3.stop();
 *
 * `env` holds AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (s3rver's built-in `S3RVER` pair),
 * AWS_REGION and AWS_ENDPOINT_URL_S3, and points AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE at
 * files that do not exist, so the machine's own AWS setup never leaks in. Add it to a child's
 * environment or pass it to `openStorage`.
 *
 * Limits (docs/design.md §8): s3rver checks access key ids, not SigV4 signatures (a wrong key id is
 * the wrong credential it refuses); it ignores If-None-Match; it runs under
 * `--openssl-legacy-provider`, without which listings past 1,000 keys fail; and its paged listings
 * mis-order keys where one key is a prefix of another followed by a character below `/`.
 * `stop()` kills the server (SIGKILL, as a crash would) and removes its folder; it is idempotent.
 * `kill()` kills it the same way but keeps the folder, so that a fault test can restart a server on
 * the same data and address: `startS3rver({ directory: s3.directory, port: s3.port })`. s3rver
 * writes an object in place, not atomically as S3 does: one caught mid-write by the kill stays,
 * truncated, without its `._S3rver_metadata.json` file.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface S3rverHandle {
  /** `http://127.0.0.1:PORT` (`https://` with `tls`) */
  endpoint: string;
  port: number;
  /** The folder s3rver stores into: `DIRECTORY/BUCKET/KEY._S3rver_object` for each object. */
  directory: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Environment for a client of this server (see the top of this file). */
  env: Record<string, string>;
  /** `s3://BUCKET/PREFIX` */
  url(prefix?: string): string;
  /** The server process, to stop it by other means (SIGSTOP...) in fault tests. */
  process: ChildProcess;
  /** Kills the server and keeps its folder; `stop()` still removes the folder. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface S3rverOptions {
  bucket?: string;
  /** Serve this folder (a restart on another server's data); default a fresh temporary one. */
  directory?: string;
  /** Listen on this port (where clients of a stopped server still point); default a free one. */
  port?: number;
  /** Serve HTTPS with this key and certificate (PEM files); the endpoint is then `https://`. */
  tls?: { keyFile: string; certFile: string };
}

const PROJECT_ROOT = fileURLToPath(new URL("../..", import.meta.url));

// runs in the child: start s3rver on the given port (0: a free one) and report the address on stdout
const CHILD = `
const S3rver = require(require.resolve("s3rver", { paths: [process.cwd()] }));
const [directory, bucket, port, keyFile, certFile] = process.argv.slice(1);
const tls = keyFile ? { key: require("node:fs").readFileSync(keyFile), cert: require("node:fs").readFileSync(certFile) } : {};
const server = new S3rver({ address: "127.0.0.1", port: Number(port), silent: true, directory, configureBuckets: [{ name: bucket, configs: [] }], ...tls });
server.run().then((addr) => process.stdout.write(JSON.stringify(addr) + "\\n"), (err) => { console.error(err); process.exit(1); });
// the parent's end of stdin closes when the test process dies: never outlive it
process.stdin.on("end", () => process.exit(0)).resume();
`;

export async function startS3rver(options: S3rverOptions = {}): Promise<S3rverHandle> {
  const bucket = options.bucket ?? "gage-test";
  const directory = options.directory ?? (await mkdtemp(join(tmpdir(), "gage-s3rver-")));
  const child = spawn(process.execPath, ["--openssl-legacy-provider", "-e", CHILD, directory, bucket, String(options.port ?? 0), ...(options.tls ? [options.tls.keyFile, options.tls.certFile] : [])], {
    cwd: PROJECT_ROOT,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  // a test that fails before stop() must not hang its process: the exit handler kills s3rver
  const onExit = () => child.kill("SIGKILL");
  process.once("exit", onExit);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      let out = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        out += d;
        const line = out.split("\n")[0];
        if (out.includes("\n") && line) resolve((JSON.parse(line) as { port: number }).port);
      });
      child.once("exit", (code) => reject(new Error(`s3rver exited (${code}) before listening:\n${stderr}`)));
      child.once("error", reject);
    });
  } catch (err) {
    process.removeListener("exit", onExit);
    child.kill("SIGKILL");
    // a folder passed in holds data a test means to serve: only ours is removed
    if (options.directory === undefined) await rm(directory, { recursive: true, force: true });
    throw err;
  }
  child.unref();
  for (const pipe of [child.stdin, child.stdout, child.stderr]) (pipe as unknown as { unref(): void }).unref();
  const endpoint = `${options.tls ? "https" : "http"}://127.0.0.1:${port}`;
  let stopped = false;
  const kill = async () => {
    process.removeListener("exit", onExit);
    if (child.exitCode === null && child.signalCode === null) {
      // waiting for the exit must keep this process alive
      child.ref();
      child.kill("SIGKILL");
      await exited;
    }
  };
  return {
    endpoint,
    port,
    directory,
    bucket,
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
    env: {
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
      AWS_REGION: "us-east-1",
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_CONFIG_FILE: join(directory, "no-aws-config"),
      AWS_SHARED_CREDENTIALS_FILE: join(directory, "no-aws-credentials"),
    },
    url: (prefix = "") => `s3://${bucket}${prefix ? `/${prefix}` : ""}`,
    process: child,
    kill,
    async stop() {
      if (stopped) return;
      stopped = true;
      await kill();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
