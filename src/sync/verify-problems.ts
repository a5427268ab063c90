import { packKey, type ObjectId } from "../objects/index.js";
import { MAX_LISTED, type VerifyProblem } from "./verify-result.js";
import type { Finding, Reachability } from "./verify-walk.js";

// Findings about single objects (verify-walk.ts, verify-data.ts) become problems, one per pack
// and kind, each naming the runs that reach its objects: a lost pack is one line, not thousands.

/** What the index listing says about each pack, for problems about a pack as a whole. */
export interface PackFacts {
  sizes: ReadonlyMap<ObjectId, number>;
  /** Pack id → entries its index lists. */
  listed: ReadonlyMap<ObjectId, number>;
  /** Pack id → index entries that lie outside the pack file, and why the first does. */
  outside: ReadonlyMap<ObjectId, { count: number; reason: string }>;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

const NEW_REMOTE = "else push the runs from their local copies into a new remote";

export function groupFindings(walk: Reachability, packs: PackFacts): VerifyProblem[] {
  const groups = new Map<string, { kind: Finding["kind"]; packId: ObjectId | undefined; ids: ObjectId[]; reason: string }>();
  for (const [id, f] of walk.findings) {
    const key = `${f.kind} ${f.packId ?? ""}`;
    const g = groups.get(key);
    if (g === undefined) groups.set(key, { kind: f.kind, packId: f.packId, ids: [id], reason: f.reason });
    else g.ids.push(id);
  }
  const problems: VerifyProblem[] = [];
  const add = (p: Omit<VerifyProblem, "runs" | "objects">, ids: readonly ObjectId[]) =>
    problems.push({ ...p, runs: [...walk.runsReachingAny(ids)].sort(), ...(ids.length > 0 ? { objects: ids.slice(0, MAX_LISTED) } : {}) });
  const reachedIn = (kind: Finding["kind"], packId: ObjectId) => groups.get(`${kind} ${packId}`)?.ids ?? [];

  // Packs as a whole first: a missing pack or a truncated one, whether runs reach them or not.
  for (const [packId, count] of packs.listed) {
    if (packs.sizes.has(packId)) continue;
    const ids = reachedIn("index-without-pack", packId);
    add(
      {
        severity: "missing",
        kind: "index-without-pack",
        where: packKey(packId),
        message: `${packKey(packId)} is missing: its index lists ${plural(count, "object")}${ids.length > 0 ? `, ${ids.length} of them reached by runs` : ""}`,
        hint: `Restore it from a backup of the remote; ${NEW_REMOTE} (while its index is there, pushes take its objects as stored).`,
      },
      ids,
    );
  }
  for (const [packId, { count, reason }] of packs.outside) {
    const ids = reachedIn("entry-outside-pack", packId);
    add(
      {
        severity: "damaged",
        kind: "entry-outside-pack",
        where: packKey(packId),
        message: `${packKey(packId)} is truncated or its index is wrong: ${plural(count, "object")} its index lists lie outside it (the first: ${reason})`,
        hint: `Restore the pack from a backup of the remote; ${NEW_REMOTE}.`,
      },
      ids,
    );
  }
  for (const g of groups.values()) {
    if (g.kind === "index-without-pack" || g.kind === "entry-outside-pack") {
      // Read from a pack that vanished or shrank after it was listed: as above.
      if (g.packId !== undefined && (!packs.sizes.has(g.packId) || packs.outside.has(g.packId))) continue;
    }
    const where = g.packId === undefined ? "" : `${packKey(g.packId)}: `;
    const n = g.ids.length;
    if (g.kind === "object-missing") {
      add(
        {
          severity: "missing",
          kind: "object-missing",
          where: "packs/",
          message: `${plural(n, "object")} that runs reach ${n === 1 ? "is" : "are"} in no pack index`,
          hint: `Restore the lost packs and indexes from a backup of the remote (a pack without an index above may hold them); ${NEW_REMOTE}.`,
        },
        g.ids,
      );
    } else if (g.kind === "size-mismatch") {
      add(
        {
          severity: "damaged",
          kind: "size-mismatch",
          where: g.packId === undefined ? "packs/" : packKey(g.packId),
          message: `${where}${plural(n, "object")} ${n === 1 ? "is" : "are"} not the size the trees say (the first: ${g.reason})`,
          hint: `The trees that reach ${n === 1 ? "it" : "them"} were written wrong or tampered with: ${NEW_REMOTE.replace("else ", "")}.`,
        },
        g.ids,
      );
    } else {
      add(
        {
          severity: g.kind === "index-without-pack" ? "missing" : "damaged",
          kind: g.kind === "index-without-pack" ? "index-without-pack" : "object-damaged",
          where: g.packId === undefined ? "packs/" : packKey(g.packId),
          message: `${where}${plural(n, "object")} ${n === 1 ? "is" : "are"} damaged (the first: ${g.reason})`,
          hint: `Restore ${g.packId === undefined ? "the pack" : packKey(g.packId)} from a backup of the remote; ${NEW_REMOTE}.`,
        },
        g.ids,
      );
    }
  }
  return problems;
}
