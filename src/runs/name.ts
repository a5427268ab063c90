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

/**
 * The run ids whose name starts with `prefix`, as a range of their first 32 bits (the bits a name
 * spells, high word first): a name prefix fixes the top bits. `undefined` when no name starts
 * with it (a letter out of place, or longer than a name).
 */
export function nameRange(prefix: string): { lo: number; hi: number } | undefined {
  if (prefix.length > 11) return undefined;
  let value = 0;
  let bits = 0;
  for (let i = 0; i < prefix.length; i++) {
    const ch = prefix[i]!;
    const at = i % 6;
    if (i === 5) {
      if (ch !== "-") return undefined;
      continue;
    }
    const letters = at % 2 === 0 ? CONSONANTS : VOWELS;
    const n = letters.indexOf(ch);
    if (n < 0) return undefined;
    const width = at % 2 === 0 ? 4 : 2;
    value = value * 2 ** width + n;
    bits += width;
  }
  const span = 2 ** (32 - bits);
  return { lo: value * span, hi: value * span + span - 1 };
}
