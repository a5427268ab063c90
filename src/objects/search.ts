/**
 * The first `i` below `length` with `keys[i] === key` and `matches(i)`, or -1. `keys` is sorted
 * ascending: a binary search for the first equal key, then a walk through the equal ones (keys
 * are hashes or prefixes, so a few may collide).
 */
export function findSorted(keys: Uint32Array, length: number, key: number, matches: (i: number) => boolean): number {
  return findSortedBy((i) => keys[i]!, length, key, matches);
}

/** `findSorted` over keys read as searched (`keyAt(i)`), where no table of them is made. */
export function findSortedBy(keyAt: (i: number) => number, length: number, key: number, matches: (i: number) => boolean): number {
  let lo = 0;
  let hi = length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keyAt(mid) < key) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < length && keyAt(i) === key; i++) if (matches(i)) return i;
  return -1;
}
