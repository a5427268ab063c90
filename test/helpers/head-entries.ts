import type { MemoryStorage } from "../../src/remotes/memory/index.js";
import { encodeHead, type HeadEntry } from "../../src/sync/heads.js";

/** An object id of one repeated hex digit. */
export const t = (c: string): string => c.repeat(64);

/** The i-th run id of a test's history. */
export const runId = (i: number): string => `0000${i.toString(16).padStart(4, "0")}-bf53-4585-9afb-cc19b62871d8`;

/** A head entry for run `i` standing at `tree` (its user log as given). */
export const entry = (i: number, tree: string, prior: string[] = [], user: HeadEntry["user"] = {}): HeadEntry => ({
  runId: runId(i),
  run: { tree, prior },
  meta: { tree: t("a"), prior: [] },
  user,
  summary: { operation: "p:train", status: "completed", started: 1_000 + i },
});

/** Pushes one head, as a writer does, with the given clock; its key. */
export async function putHead(storage: MemoryStorage, entries: HeadEntry[], ms: number): Promise<string> {
  const { key, bytes } = encodeHead(entries, ms);
  await storage.put(key, bytes);
  return key;
}
