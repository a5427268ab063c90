const CONSONANTS = "bdfghjklmnprstvz";
const VOWELS = "aiou";

function quintWord(n: number): string {
  return (
    CONSONANTS[(n >> 12) & 0xf]! +
    VOWELS[(n >> 10) & 0x3]! +
    CONSONANTS[(n >> 6) & 0xf]! +
    VOWELS[(n >> 4) & 0x3]! +
    CONSONANTS[n & 0xf]!
  );
}

/**
 * A run's name: the proquint of the first 32 bits of its id, high word first
 * (`882cb503-…` → `mobos-rihag`). Derived, never stored.
 */
export function runName(id: string): string {
  const n = Number.parseInt(id.slice(0, 8), 16);
  if (!/^[0-9a-fA-F]{8}/.test(id) || Number.isNaN(n)) {
    throw new TypeError(`run id must start with 8 hex digits: ${JSON.stringify(id)}`);
  }
  return `${quintWord(n >>> 16)}-${quintWord(n & 0xffff)}`;
}
