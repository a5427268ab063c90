/**
 * Copies all of `source` into `target` at `at`; returns the bytes copied. `fill`, not `copy`: V8
 * copies out of a SharedArrayBuffer element by element (relaxed atomics), several times slower,
 * where `fill` with a buffer is one memcpy; snapshot batches and chunk blocks are shared buffers.
 */
export function copyBytes(source: Buffer, target: Buffer, at: number): number {
  if (source.length > 0) target.fill(source, at, at + source.length);
  return source.length;
}

/** A copy of `source` in memory of its own (see `copyBytes`). */
export function copyOf(source: Buffer): Buffer {
  const out = Buffer.allocUnsafe(source.length);
  copyBytes(source, out, 0);
  return out;
}
