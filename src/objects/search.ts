/**
 * The first `i` below `length` with `keys[i] === key`, or -1. `keys` is sorted ascending; keys are
 * hashes or prefixes, so a few rows may share one: callers walk on from `i` while the key is equal.
 * No closure per step: lookups run thousands of times in short commands, mostly before V8 optimizes them.
 */
export function firstOfKey(keys: Uint32Array, length: number, key: number): number {
  let lo = 0;
  let hi = length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo < length && keys[lo] === key ? lo : -1;
}
