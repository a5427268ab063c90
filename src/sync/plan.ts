import { decodeTree, type Tree, ObjectReader, snapshotDir, type ObjectSink } from "../objects/index.js";
import { runMetaDir, type Run } from "../runs/run.js";
import { entryVersion, type HeadEntry } from "./heads.js";
import type { LocalRun } from "./local-runs.js";
import { mergedVersion, mergeRunVersions, type PartMerge, type RunMerge, type RunVersion } from "./merge.js";
import type { PlannedRun, Session } from "./session.js";

/** The remote's state of a run: the merge of its heads (the first head when they diverge). */
export function remoteVersion(entries: readonly HeadEntry[]): RunVersion | undefined {
  if (entries.length === 0) return undefined;
  // One head merges to itself (a tree never supersedes itself): most runs, in every no-change push.
  if (entries.length === 1) return entryVersion(entries[0]!);
  const versions = entries.map(entryVersion);
  return mergedVersion(mergeRunVersions(versions)) ?? versions[0];
}

/** What moves from `from` to a side that holds `to` (undefined: a new run there). */
export function describeChange(from: RunVersion, to: RunVersion | undefined): string {
  if (!to) return "new";
  const parts: string[] = [];
  if (from.run.tree !== to.run.tree) parts.push("files");
  if (from.meta.tree !== to.meta.tree) parts.push("meta");
  const newUser = Object.keys(from.user).filter((n) => !(n in to.user)).length;
  if (newUser > 0) parts.push(`user +${newUser}`);
  return parts.join(", ") || "heads";
}

export function plannedRun(run: Pick<Run, "id" | "name" | "operation" | "label">, what: string, files: number, bytes: number): PlannedRun {
  return { id: run.id, name: run.name, operation: run.operation, label: run.label ?? "", what, files, bytes };
}

/** Keeps tree objects met while snapshotting (to name the paths of a conflict). */
function treeCollector(trees: Map<string, Tree>): ObjectSink {
  return {
    has: () => false,
    add: async (id, data) => {
      if (data.length > 0 && data[0]! >= 0x90 && data[0]! <= 0x9f) {
        try {
          trees.set(id, decodeTree(data));
        } catch {
          // not a tree: file bytes that happen to look like a msgpack array
        }
      }
      return false;
    },
  };
}

/** Paths (relative to the runs directory) where the local run and the remote's trees differ. */
export async function conflictPaths(s: Session, local: LocalRun, merged: RunMerge): Promise<string[]> {
  const reader = await ObjectReader.open(s.remote.storage);
  const localTrees = new Map<string, Tree>();
  const readTree = async (id: string): Promise<Tree> => localTrees.get(id) ?? (await reader.readTree(id));
  const paths: string[] = [];
  const parts: Array<[PartMerge, string, string]> = [
    [merged.run, local.run.paths.runDir, local.run.id],
    [merged.meta, runMetaDir(local.run), `${local.run.id}.meta`],
  ];
  for (const [part, dir, prefix] of parts) {
    if (!part.conflict) continue;
    const mine = (await snapshotDir(dir, { sink: treeCollector(localTrees) })).treeId;
    for (const other of part.trees.filter((t) => t !== mine)) {
      try {
        await diffTrees(readTree, mine, other, prefix, paths);
      } catch {
        paths.push(`${prefix}/`);
      }
    }
  }
  return [...new Set(paths)].sort();
}

/**
 * Paths (relative to the runs directory) where the remote's diverged versions of a run differ,
 * for a run with no local copy: each version against the first.
 */
export async function remoteConflictPaths(s: Session, runId: string, merged: RunMerge): Promise<string[]> {
  const reader = await ObjectReader.open(s.remote.storage);
  const readTree = (id: string) => reader.readTree(id);
  const paths: string[] = [];
  const parts: Array<[PartMerge, string]> = [
    [merged.run, runId],
    [merged.meta, `${runId}.meta`],
  ];
  for (const [part, prefix] of parts) {
    if (!part.conflict) continue;
    const [first, ...others] = part.trees;
    for (const other of others) {
      try {
        await diffTrees(readTree, first!, other, prefix, paths);
      } catch {
        paths.push(`${prefix}/`);
      }
    }
  }
  return [...new Set(paths)].sort();
}

async function diffTrees(read: (id: string) => Promise<Tree>, a: string, b: string, prefix: string, out: string[]): Promise<void> {
  if (a === b) return;
  const [ta, tb] = [await read(a), await read(b)];
  const byName = new Map(tb.entries.map((e) => [e.name, e]));
  for (const ea of ta.entries) {
    const eb = byName.get(ea.name);
    byName.delete(ea.name);
    const path = `${prefix}/${ea.name}`;
    if (!eb) out.push(path);
    else if (ea.kind === "dir" && eb.kind === "dir") await diffTrees(read, ea.id, eb.id, path, out);
    else if (ea.id !== eb.id || ea.mode !== eb.mode || ea.kind !== eb.kind) out.push(path);
  }
  for (const name of byName.keys()) out.push(`${prefix}/${name}`);
}
