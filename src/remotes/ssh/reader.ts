import { Readable } from "node:stream";
import type { SFTPWrapper } from "ssh2";
import { BrokenTransferError } from "../streams.js";
import { call } from "./call.js";

/** Bytes per read request, and requests in flight: ~1 MiB ahead fills the pipe at bounded memory. */
const CHUNK = 64 * 1024;
const DEPTH = 16;

/**
 * Streams `[start, end)` of an open SFTP file with several reads in flight, in order (ssh2's own
 * read stream waits for each read before asking for the next, which is slow over any latency).
 * Closes the handle when done or destroyed; a file that ends early fails with
 * `BrokenTransferError`.
 */
export class SftpReader extends Readable {
  private next: number;
  private readonly pending: Promise<Buffer>[] = [];
  private started = false;
  private wake: (() => void) | undefined;
  private handleOpen = true;

  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly handle: Buffer,
    start: number,
    private readonly end: number,
  ) {
    super({ highWaterMark: CHUNK * 4 });
    this.next = start;
  }

  override _read(): void {
    if (!this.started) {
      this.started = true;
      void this.pump();
    } else if (this.wake) {
      const wake = this.wake;
      this.wake = undefined;
      wake();
    }
  }

  private readAt(position: number, length: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length);
    const readRest = async (got: number): Promise<Buffer> => {
      const n = await call<number>(this.sftp, (cb) => this.sftp.read(this.handle, buffer, got, length - got, position + got, cb));
      if (n === 0) throw new BrokenTransferError(`the file ended ${this.end - position - got} bytes early`);
      return got + n < length ? readRest(got + n) : buffer;
    };
    const read = readRest(0);
    // failures are seen when the read's turn comes; until then they are not unhandled
    read.catch(() => undefined);
    return read;
  }

  private async pump(): Promise<void> {
    try {
      for (;;) {
        while (this.pending.length < DEPTH && this.next < this.end) {
          const length = Math.min(CHUNK, this.end - this.next);
          this.pending.push(this.readAt(this.next, length));
          this.next += length;
        }
        const read = this.pending.shift();
        if (read === undefined) break;
        const chunk = await read;
        if (this.destroyed) return;
        if (!this.push(chunk)) await new Promise<void>((resolve) => (this.wake = resolve));
        if (this.destroyed) return;
      }
      this.closeHandle();
      this.push(null);
    } catch (err) {
      this.destroy(err as Error);
    }
  }

  /** Best effort, never awaited: on a dropped connection ssh2 may never call back. */
  private closeHandle(): void {
    if (!this.handleOpen) return;
    this.handleOpen = false;
    try {
      this.sftp.close(this.handle, () => undefined);
    } catch {
      // the session is gone, and the handle with it
    }
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.wake?.();
    this.wake = undefined;
    this.closeHandle();
    callback(err);
  }
}
