import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { loadPackIndex, ObjectReader } from "../../src/objects/index.js";
import type { Storage } from "../../src/remotes/storage.js";
import { emptyView, refreshView } from "../../src/sync/heads.js";
import { listing } from "./story.js";

/**
 * Checks the closure invariant on a store: every tree, file and chunk that any head reaches is in
 * a pack the storage lists. Returns the run ids the heads name.
 */
export async function checkClosed(storage: Storage): Promise<string[]> {
  const view = emptyView();
  await refreshView(storage, view);
  const reader = new ObjectReader(storage, await loadPackIndex(storage));
  const seen = new Set<string>();
  const walk = async (treeId: string): Promise<void> => {
    if (seen.has(treeId)) return;
    seen.add(treeId);
    for (const e of (await reader.readTree(treeId)).entries) {
      if (e.kind === "dir") await walk(e.id);
      else if (e.chunks !== undefined) {
        for (const c of (await reader.readChunkList(e.chunks)).chunks) assert.ok(reader.has(c.id), `chunk ${c.id} of ${e.name}`);
      } else assert.ok(reader.has(e.id), `object ${e.id} of ${e.name} is reachable but not stored`);
    }
  };
  for (const entries of view.runs.values()) {
    for (const e of entries) {
      await walk(e.run.tree);
      await walk(e.meta.tree);
    }
  }
  return [...view.runs.keys()];
}

/** Every run visible in `dest` (its `ID.meta` exists) is complete: the same files as in `source`. */
export function checkVisibleRunsComplete(source: string, dest: string): string[] {
  const visible = existsSync(dest) ? readdirSync(dest).filter((n) => n.endsWith(".meta")).map((n) => n.slice(0, -5)) : [];
  for (const id of visible) {
    const only = (n: string) => n !== id && n !== `${id}.meta` && n !== `${id}.user`;
    assert.deepEqual(listing(dest, only), listing(source, only), `visible run ${id} is complete`);
  }
  return visible;
}

export function runDirsOf(dir: string): string[] {
  return readdirSync(dir).filter((n) => !n.startsWith(".") && !n.endsWith(".project")).sort();
}
