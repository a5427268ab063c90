/**
 * A real signature-checking S3 server for tests: Debian's Ceph RGW (`radosgw`), standalone on
 * 127.0.0.1 with one monitor and one in-memory (memstore) OSD, no cephx, on free ports, in a
 * temporary folder, with one user and one bucket made.
 *
 *   const rgw = await startRgw();
 *   const storage = await openStorage(rgw.url("runs"), { env: rgw.env });
 *   // or: gage(["push", rgw.url("runs")], { env: rgw.env })
 *   await rgw.stop();
 *
 * Unlike s3rver (DESIGN.md §8), RGW checks SigV4 signatures (a wrong secret is refused), lists in
 * true key order and honours conditional writes. It costs ~12 s to start and ~120 MB: start it
 * once per test file, in as few files as possible.
 *
 * When the Ceph packages are missing they are installed once (apt-get, under the lock every
 * helper shares: test/helpers/sshd.ts); when that is impossible `startRgw` throws, so the tests
 * fail rather than pass silently. The daemons fork into the background and write pid files;
 * `stop()` kills each by its pid file, waits until it is gone and removes the folder (idempotent),
 * and a process `exit` handler does the same if a test dies before `stop()`.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { installDebianPackages } from "./apt.js";
import { freePort } from "./sshd.js";

const exec = promisify(execFile);
// The SDK's once-per-process warning about Node versions is noise in test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

export interface RgwHandle {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  port: number;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Environment for a client of this server: keys, region, endpoint; the machine's AWS files kept out. */
  env: Record<string, string>;
  /** `s3://BUCKET/PREFIX` */
  url(prefix?: string): string;
  /** Kills the daemons and removes their folder. */
  stop(): Promise<void>;
}

const PACKAGES = ["radosgw", "ceph-mon", "ceph-osd", "ceph-common"];
const BINARIES = ["/usr/bin/radosgw", "/usr/bin/ceph-mon", "/usr/bin/ceph-osd", "/usr/bin/ceph", "/usr/bin/radosgw-admin", "/usr/bin/monmaptool", "/usr/bin/ceph-authtool"];
const DAEMONS = ["mon.a", "osd.0", "client.rgw.a"];

let installing: Promise<void> | undefined;

function ensureCeph(): Promise<void> {
  installing ??= installDebianPackages("Ceph RGW (for the signature-checking S3 tests)", PACKAGES, () => BINARIES.every((b) => existsSync(b)));
  return installing;
}

function cephConf(dir: string, fsid: string, monPort: number, rgwPort: number): string {
  return `[global]
fsid = ${fsid}
mon host = v1:127.0.0.1:${monPort}
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd crush chooseleaf type = 0
run dir = ${dir}/run
pid file = ${dir}/run/$name.pid
log file = ${dir}/log/$name.log
admin socket = ${dir}/run/$name.asok
mon max pg per osd = 1000
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon warn on pool no redundancy = false
ms bind ipv6 = false
public addr = 127.0.0.1
rgw gc obj min wait = 60
[mon.a]
mon data = ${dir}/mon
[osd.0]
osd data = ${dir}/osd0
osd objectstore = memstore
memstore device bytes = 4294967296
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Tries `step` up to `times`, `pauseMs` apart (a fresh mon or OSD refuses the first calls). */
async function retry<T>(what: string, times: number, pauseMs: number, step: () => Promise<T>): Promise<T> {
  let last: unknown;
  for (let i = 0; i < times; i++) {
    try {
      return await step();
    } catch (err) {
      last = err;
      await sleep(pauseMs);
    }
  }
  const e = last as { stderr?: string; message?: string };
  throw new Error(`RGW start: ${what} failed: ${e?.stderr || e?.message || String(last)}`);
}

function pidsOf(dir: string): number[] {
  const pids: number[] = [];
  for (const d of DAEMONS) {
    try {
      const pid = Number(readFileSync(join(dir, "run", `${d}.pid`), "utf8").trim());
      if (pid > 0) pids.push(pid);
    } catch {
      // that daemon never started
    }
  }
  return pids;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

async function stopDaemons(dir: string): Promise<void> {
  const pids = pidsOf(dir);
  killAll(pids);
  for (let i = 0; i < 200 && pids.some(alive); i++) await sleep(50);
}

export async function startRgw(options: { bucket?: string } = {}): Promise<RgwHandle> {
  await ensureCeph();
  const bucket = options.bucket ?? "gage-test";
  const dir = await mkdtemp(join(tmpdir(), "gage-rgw-"));
  for (const sub of ["mon", "osd0", "run", "log"]) await mkdir(join(dir, sub));
  // A test that dies before stop() must not leave daemons behind.
  const onExit = () => killAll(pidsOf(dir));
  process.once("exit", onExit);
  const conf = join(dir, "ceph.conf");
  const c = ["-c", conf];
  const logs = async () => {
    const out: string[] = [];
    for (const d of DAEMONS) out.push(`--- ${d}: ${(await readFile(join(dir, "log", `${d}.log`), "utf8").catch(() => "(no log)")).slice(-1500)}`);
    return out.join("\n");
  };
  try {
    const fsid = randomUUID();
    const monPort = await freePort();
    const port = await freePort();
    await writeFile(conf, cephConf(dir, fsid, monPort, port));
    await exec("monmaptool", ["--create", "--addv", "a", `[v1:127.0.0.1:${monPort}]`, "--fsid", fsid, join(dir, "monmap")]);
    await exec("ceph-authtool", ["--create-keyring", join(dir, "mon.keyring"), "--gen-key", "-n", "mon.", "--cap", "mon", "allow *"]);
    await exec("ceph-mon", [...c, "--mkfs", "-i", "a", "--monmap", join(dir, "monmap"), "--keyring", join(dir, "mon.keyring")]);
    await exec("ceph-mon", [...c, "-i", "a"]);
    await retry("waiting for the monitor", 30, 1000, () => exec("ceph", [...c, "-s"], { timeout: 10_000 }));
    const osdUuid = randomUUID();
    const osdId = (await exec("ceph", [...c, "osd", "new", osdUuid])).stdout.trim();
    await retry("making the OSD", 3, 1000, () => exec("ceph-osd", [...c, "-i", osdId, "--mkfs", "--osd-uuid", osdUuid]));
    // Its first start sometimes reads a wrong fsid and exits: started again, it comes up.
    await retry("starting the OSD", 5, 1000, () => exec("ceph-osd", [...c, "-i", osdId]));
    await exec("radosgw", [...c, "-n", "client.rgw.a"]);
    const endpoint = `http://127.0.0.1:${port}`;
    await retry("waiting for radosgw", 90, 1000, async () => {
      const res = await fetch(`${endpoint}/`);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
    });
    const accessKeyId = "gageTestKey";
    const secretAccessKey = "gageTestSecret";
    await retry("creating the user", 10, 1000, () =>
      exec("radosgw-admin", [...c, "user", "create", "--uid=gage-test", "--display-name=gage-test", `--access-key=${accessKeyId}`, `--secret=${secretAccessKey}`]),
    );
    const client = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } });
    try {
      await retry("creating the bucket", 10, 1000, () => client.send(new CreateBucketCommand({ Bucket: bucket })));
    } finally {
      client.destroy();
    }
    let stopped = false;
    return {
      endpoint,
      port,
      bucket,
      accessKeyId,
      secretAccessKey,
      env: {
        AWS_ACCESS_KEY_ID: accessKeyId,
        AWS_SECRET_ACCESS_KEY: secretAccessKey,
        AWS_REGION: "us-east-1",
        AWS_ENDPOINT_URL_S3: endpoint,
        AWS_CONFIG_FILE: join(dir, "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE: join(dir, "no-aws-credentials"),
      },
      url: (prefix = "") => `s3://${bucket}${prefix ? `/${prefix}` : ""}`,
      async stop() {
        if (stopped) return;
        stopped = true;
        process.removeListener("exit", onExit);
        await stopDaemons(dir);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    const detail = await logs();
    process.removeListener("exit", onExit);
    await stopDaemons(dir);
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${detail}`, { cause: err });
  }
}
