import { appendFileSync, chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

let lastUs = 0;

/** Epoch microseconds, strictly increasing within this process (as Gage's `make_run_timestamp`). */
export function runTimestamp(nowUs: () => number): number {
  const us = Math.max(Math.floor(nowUs()), lastUs + 1);
  lastUs = us;
  return us;
}

/** The wall clock in epoch microseconds. */
export function systemNowUs(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

/** `%Y-%m-%dT%H:%M:%S%z` in local time, as Python's logging formatter writes `log/runner`. */
export function formatLogTime(date: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  const off = -date.getTimezoneOffset();
  const sign = off < 0 ? "-" : "+";
  const zone = `${sign}${p(Math.floor(Math.abs(off) / 60))}${p(Math.abs(off) % 60)}`;
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())}T${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}${zone}`;
}

/**
 * Writes one run's `ID.meta/` as Python Gage does: each file once, read-only (0444), no trailing
 * newline; `log/runner` gets a line per step.
 */
export class MetaWriter {
  constructor(
    readonly metaDir: string,
    private readonly nowUs: () => number,
  ) {}

  /** Writes a read-only meta file (creating its folder). */
  write(rel: string, text: string | Uint8Array): void {
    const path = join(this.metaDir, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text, { mode: 0o444, flag: "wx" });
  }

  /** Appends a step to `log/runner`. */
  log(message: string): void {
    const path = join(this.metaDir, "log", "runner");
    mkdirSync(dirname(path), { recursive: true });
    appendFileSync(path, `${formatLogTime(new Date(this.nowUs() / 1000))} ${message}\n`);
  }

  /** Logs and writes a timestamp file (`initialized`, `staged`, `started`, `stopped`). */
  timestamp(name: string): number {
    this.log(`Writing meta ${name}`);
    const us = runTimestamp(this.nowUs);
    this.write(name, String(us));
    return us;
  }

  remove(rel: string): void {
    rmSync(join(this.metaDir, rel), { force: true });
  }

  makeReadOnly(rel: string): void {
    this.chmod(rel, 0o444);
  }

  /** A staged run's logs and manifest are writable until it finishes (as Gage leaves them). */
  makeWritable(rel: string): void {
    this.chmod(rel, 0o644);
  }

  private chmod(rel: string, mode: number): void {
    try {
      chmodSync(join(this.metaDir, rel), mode);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
}
