import { spawn } from "node:child_process";
import { accessSync, closeSync, constants, mkdtempSync, openSync, rmSync, symlinkSync, writeSync } from "node:fs";
import { constants as osConstants, tmpdir } from "node:os";
import { delimiter, join } from "node:path";

/** The first executable `name` on `PATH`, or undefined. */
export function findOnPath(name: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * An environment in which `python` runs Python: as given when `python` is on PATH; otherwise,
 * when `python3` is, PATH gains a temporary folder with a `python` link to it (removed by
 * `cleanup`). Gage's ops say `python`, and many systems only install `python3`.
 */
export function withPython(env: NodeJS.ProcessEnv): { env: NodeJS.ProcessEnv; cleanup: () => void } {
  const python3 = findOnPath("python", env.PATH) ? undefined : findOnPath("python3", env.PATH);
  if (!python3) return { env, cleanup: () => {} };
  const dir = mkdtempSync(join(tmpdir(), "gage-python-"));
  symlinkSync(python3, join(dir, "python"));
  return {
    env: { ...env, PATH: env.PATH ? `${dir}${delimiter}${env.PATH}` : dir },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface ProcessRun {
  pid: number;
  /** The exit code, or minus the signal number when a signal ended the process (as Python's). */
  exit: Promise<number>;
}

export interface OutputSink {
  /** Where the raw output goes (`output/40_run`) and its line index (`output/40_run.index`). */
  outputPath: string;
  /** Live output: both streams, as read. */
  onOutput?: (chunk: Uint8Array) => void;
  nowMs: () => number;
}

/**
 * Starts `cmd` in `cwd` (a string through `/bin/sh`, a list without a shell) in its own process
 * group, so that a signal reaches the whole command. Its stdout and stderr are read as they come:
 * written to the output file, indexed per line (9-byte records: big-endian uint64 epoch ms, then
 * the stream, 0 stdout, 1 stderr; bytes below 9 do not count toward a line), and passed on live.
 */
export function startProcess(
  cmd: string | string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  sink: OutputSink,
  signal?: AbortSignal,
): ProcessRun {
  const [file, args, shell] = typeof cmd === "string" ? [cmd, [], true] : [cmd[0]!, cmd.slice(1), false];
  const child = spawn(file, args, { cwd, env, shell, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const outFd = openSync(sink.outputPath, "w", 0o644);
  const indexFd = openSync(sink.outputPath + ".index", "w", 0o644);
  const pending = [0, 0];
  const record = (stream: number) => {
    const rec = Buffer.alloc(9);
    rec.writeBigUInt64BE(BigInt(Math.floor(sink.nowMs())), 0);
    rec.writeUInt8(stream, 8);
    writeSync(indexFd, rec);
  };
  const read = (stream: 0 | 1) => (chunk: Buffer) => {
    writeSync(outFd, chunk);
    for (const b of chunk) {
      if (b < 9) continue;
      pending[stream]!++;
      if (b === 10) {
        record(stream);
        pending[stream] = 0;
      }
    }
    sink.onOutput?.(chunk);
  };
  child.stdout.on("data", read(0));
  child.stderr.on("data", read(1));
  const kill = () => {
    const sig = (typeof signal?.reason === "string" ? signal.reason : "SIGTERM") as NodeJS.Signals;
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // already gone
    }
  };
  signal?.addEventListener("abort", kill, { once: true });
  let finished = false;
  const finish = (status: number, resolve: (status: number) => void) => {
    if (finished) return;
    finished = true;
    signal?.removeEventListener("abort", kill);
    for (const stream of [0, 1]) if (pending[stream]) record(stream);
    closeSync(outFd);
    closeSync(indexFd);
    resolve(status);
  };
  const exit = new Promise<number>((resolve) => {
    // A list command that cannot be started (no such program) ends like the shell's "not found".
    child.on("error", (err) => {
      const message = Buffer.from(`${err.message}\n`);
      read(1)(message);
      finish(127, resolve);
    });
    child.on("close", (code, sig) => finish(code ?? -(osConstants.signals[sig as NodeJS.Signals] ?? 1), resolve));
  });
  if (signal?.aborted) kill();
  return { pid: child.pid ?? -1, exit };
}
