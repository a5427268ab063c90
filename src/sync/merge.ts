import { treeId } from "../objects/index.js";

/**
 * Merging versions of one run (pure). A version is what one side (the local runs directory, or
 * one head on a remote) holds: a tree id for `ID/`, one for `ID.meta/`, each with the tree ids it
 * supersedes (`prior`: the states this copy has had before), and the `ID.user/` log entries.
 *
 * - User entries merge by union: names are unique, time-ordered and immutable, so the union is
 *   always right. Two different contents under one name keep the first seen.
 * - A tree fast-forwards: among the versions' trees, the ones no other version supersedes win.
 *   One winner is the merge; several are a true divergence (a conflict).
 */

export interface TreeVersion {
  tree: string;
  /** Trees this version descends from (never including `tree` itself). */
  prior: readonly string[];
}

export interface RunVersion {
  run: TreeVersion;
  meta: TreeVersion;
  /** `ID.user/` file name → object id of its bytes. */
  user: Readonly<Record<string, string>>;
}

export type PartMerge =
  | { conflict: false; tree: string; prior: string[] }
  | { conflict: true; trees: string[]; prior: string[] };

export interface RunMerge {
  run: PartMerge;
  meta: PartMerge;
  user: Record<string, string>;
}

/** The id of the empty tree: what a part never sent (`--only`) stands at; every tree supersedes it. */
export const EMPTY_TREE: string = treeId({ entries: [] });

/** How many superseded tree ids a version carries: enough for any realistic run history. */
export const MAX_PRIOR = 64;

export function mergePart(versions: readonly TreeVersion[]): PartMerge {
  if (versions.length === 0) throw new RangeError("mergePart needs at least one version");
  const superseded = new Set<string>();
  for (const v of versions) for (const t of v.prior) superseded.add(t);
  superseded.add(EMPTY_TREE);
  const trees = [...new Set(versions.map((v) => v.tree))];
  let winners = trees.filter((t) => !superseded.has(t));
  // Every tree superseded by another: a history that went back to an earlier state. The first
  // version (the caller's own side) stands.
  if (winners.length === 0) winners = [versions[0]!.tree];
  superseded.delete(EMPTY_TREE);
  const priorOf = (keep: string[]) => capPrior([...new Set([...trees, ...superseded])].filter((t) => !keep.includes(t) && t !== EMPTY_TREE));
  if (winners.length === 1) return { conflict: false, tree: winners[0]!, prior: priorOf(winners) };
  return { conflict: true, trees: winners, prior: priorOf([]) };
}

/** A side chosen by `--force`: its tree wins, every other tree becomes its prior. */
export function forcePart(merged: PartMerge, tree: string): PartMerge & { conflict: false } {
  const all = merged.conflict ? [...merged.trees, ...merged.prior] : [merged.tree, ...merged.prior];
  return { conflict: false, tree, prior: capPrior([...new Set(all)].filter((t) => t !== tree)) };
}

function capPrior(ids: string[]): string[] {
  return ids.length <= MAX_PRIOR ? ids : ids.slice(ids.length - MAX_PRIOR);
}

export function mergeUser(versions: ReadonlyArray<Readonly<Record<string, string>>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of versions) for (const [name, id] of Object.entries(v)) if (!(name in out)) out[name] = id;
  return out;
}

export function mergeRunVersions(versions: readonly RunVersion[]): RunMerge {
  return {
    run: mergePart(versions.map((v) => v.run)),
    meta: mergePart(versions.map((v) => v.meta)),
    user: mergeUser(versions.map((v) => v.user)),
  };
}

/** The merge as a version, when it has no conflict. */
export function mergedVersion(m: RunMerge): RunVersion | undefined {
  if (m.run.conflict || m.meta.conflict) return undefined;
  return { run: { tree: m.run.tree, prior: m.run.prior }, meta: { tree: m.meta.tree, prior: m.meta.prior }, user: m.user };
}

/** True when two versions hold the same trees and the same user entries (names and contents). */
export function sameVersion(a: RunVersion, b: RunVersion): boolean {
  if (a.run.tree !== b.run.tree || a.meta.tree !== b.meta.tree) return false;
  const names = Object.keys(a.user);
  return names.length === Object.keys(b.user).length && names.every((n) => a.user[n] === b.user[n]);
}

/** True when `a` holds something `b` lacks: another tree, or a user entry. */
export function hasNews(a: RunVersion, b: RunVersion): boolean {
  if (a.run.tree !== b.run.tree || a.meta.tree !== b.meta.tree) return true;
  return Object.keys(a.user).some((name) => !(name in b.user));
}

export type SyncState = "local-only" | "remote-only" | "in sync" | "ahead" | "behind" | "diverged";

/** Where a run stands between the local side and a remote (either may be absent). */
export function compareVersions(local: RunVersion | undefined, remote: RunVersion | undefined): SyncState {
  if (!local) return remote ? "remote-only" : "in sync";
  if (!remote) return "local-only";
  const merged = mergedVersion(mergeRunVersions([local, remote]));
  if (!merged) return "diverged";
  const localNews = hasNews(merged, remote);
  const remoteNews = hasNews(merged, local);
  if (localNews && remoteNews) return "diverged";
  if (localNews) return "ahead";
  if (remoteNews) return "behind";
  return "in sync";
}
