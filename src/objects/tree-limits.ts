import { TreeLimitError } from "./errors.js";

/**
 * Bounds on what one tree may expand to. Trees share subtrees by id, so a few KB of trees can name
 * billions of paths; whoever walks a tree from a remote counts against these before it allocates.
 */
export interface TreeLimits {
  /** Entries in the whole expanded tree (every path below the root). */
  maxEntries: number;
  /** Folders nested below the root. */
  maxDepth: number;
  /** Bytes of a path below the root (Linux refuses paths of 4096 bytes or more). */
  maxPathBytes: number;
}

export const DEFAULT_TREE_LIMITS: Readonly<TreeLimits> = Object.freeze({
  maxEntries: 1_000_000,
  maxDepth: 256,
  maxPathBytes: 3072,
});

/** Counts a walk of tree `rootId` against `limits`, throwing `TreeLimitError` once past one. */
export class TreeBudget {
  #entries = 0;
  constructor(
    readonly rootId: string,
    readonly limits: Readonly<TreeLimits> = DEFAULT_TREE_LIMITS,
  ) {}

  /** Adds `n` entries to the walk. */
  entries(n: number): void {
    this.#entries += n;
    if (this.#entries > this.limits.maxEntries) throw new TreeLimitError(this.rootId, `more than ${this.limits.maxEntries} entries`);
  }

  /** Checks a folder `depth` levels below the root. */
  depth(depth: number): void {
    if (depth > this.limits.maxDepth) throw new TreeLimitError(this.rootId, `folders nested more than ${this.limits.maxDepth} deep`);
  }

  /** Checks a path below the root, by its length in bytes. */
  pathBytes(bytes: number, path: string): void {
    if (bytes > this.limits.maxPathBytes) throw new TreeLimitError(this.rootId, `a path longer than ${this.limits.maxPathBytes} bytes (${path.slice(0, 60)}...)`);
  }
}
