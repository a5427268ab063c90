/**
 * A real S3 HTTP server for tests: s3rver (npm), in a child process, on 127.0.0.1 and a free
 * port, storing into a fresh temporary folder, with one bucket created.
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
 * Limits (DESIGN.md §8): s3rver checks access key ids, not SigV4 signatures (a wrong key id is
 * the wrong credential it refuses); it ignores If-None-Match; it runs under
 * `--openssl-legacy-provider`, without which listings past 1,000 keys fail; and its paged listings
 * mis-order keys where one key is a prefix of another followed by a character below `/`.
 * `stop()` kills the server (SIGKILL, as a crash would) and removes its folder; it is idempotent.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface S3rverHandle {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Environment for a client of this server (see the top of this file). */
  env: Record<string, string>;
  /** `s3://BUCKET/PREFIX` */
  url(prefix?: string): string;
  /** The server process, to stop it by other means (SIGSTOP...) in fault tests. */
  process: ChildProcess;
  stop(): Promise<void>;
}

const PROJECT_ROOT = fileURLToPath(new URL("../..", import.meta.url));

// runs in the child: start s3rver on a free port and report the address on stdout
const CHILD = `
const S3rver = require(require.resolve("s3rver", { paths: [process.cwd()] }));
const [directory, bucket] = process.argv.slice(1);
const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory, configureBuckets: [{ name: bucket, configs: [] }] });
server.run().then((addr) => process.stdout.write(JSON.stringify(addr) + "\\n"), (err) => { console.error(err); process.exit(1); });
// the parent's end of stdin closes when the test process dies: never outlive it
process.stdin.on("end", () => process.exit(0)).resume();
`;

export async function startS3rver(options: { bucket?: string } = {}): Promise<S3rverHandle> {
  const bucket = options.bucket ?? "gage-test";
  const directory = await mkdtemp(join(tmpdir(), "gage-s3rver-"));
  const child = spawn(process.execPath, ["--openssl-legacy-provider", "-e", CHILD, directory, bucket], {
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
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
  child.unref();
  for (const pipe of [child.stdin, child.stdout, child.stderr]) (pipe as unknown as { unref(): void }).unref();
  const endpoint = `http://127.0.0.1:${port}`;
  let stopped = false;
  return {
    endpoint,
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
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener("exit", onExit);
      if (child.exitCode === null && child.signalCode === null) {
        // waiting for the exit must keep this process alive
        child.ref();
        child.kill("SIGKILL");
        await exited;
      }
      await rm(directory, { recursive: true, force: true });
    },
  };
}
