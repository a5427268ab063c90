import pLimit from "p-limit";
import { UsageError } from "../../errors.js";
import { RunNotFoundError } from "../../runs/errors.js";
import type { Run } from "../../runs/run.js";
import { matchRunSpec, parseWhere } from "../../runs/select.js";
import { ConflictError, type RunConflict } from "../errors.js";
import { parseManifest, relate } from "./compare.js";
import { parseRunKey, partDir, RUN_PARTS, type RunPart } from "./keys.js";
import type { RunsSide } from "./side.js";

export type CopyDirection = "to" | "from";

export interface CopySelection {
  /** Run specs (index, slice, id or name prefix), resolved against the sending side's runs. */
  runs?: readonly string[];
  /** `-a/--all`: every live run (after `where`). */
  all?: boolean;
  /** `-w/--where`: a filter as in `gage ls`. */
  where?: string;
  /** `--only`: the parts to move (default all: meta, user, files). */
  only?: readonly RunPart[];
  /**
   * Settle conflicts in favour of this (the local) side: `--to` overwrites the destination's
   * diverged files, `--from` keeps the local ones.
   */
  force?: boolean;
}

/** One file that will be written on the receiving side. */
export interface PlannedFile {
  /** Key on the sending side. */
  from: string;
  /** Key on the receiving side (the meta directory may be named differently there). */
  to: string;
  part: RunPart;
  size: number;
  mode: number;
  mtimeMs?: number;
  /** The manifest digest the bytes must match, for files from outside. */
  sha256?: string;
  change: "new" | "update" | "force";
}

export interface PlannedRun {
  run: Run;
  /** True when the receiving side has no meta for the run: it appears there once copied. */
  isNew: boolean;
  /** The meta directory written on the receiving side (`ID.meta` or `ID.meta.deleted`). */
  metaDir: string;
  files: PlannedFile[];
  bytes: number;
}

export interface CopyPlanData {
  direction: CopyDirection;
  /** Runs with something to write, in the sending side's list order. */
  runs: PlannedRun[];
  /** Selected runs that needed nothing. */
  upToDate: Run[];
  /** Selected runs skipped because the receiving side has them deleted (not named explicitly). */
  skippedDeleted: Run[];
  /** Conflicts settled by `force`. */
  forced: RunConflict[];
}

/**
 * The runs `sel` selects on the sending side. Specs resolve against live runs as in `gage ls`;
 * a spec that matches no live run may name a deleted run by id or name prefix (deleted runs move
 * only when named). Returns the runs and the ids named explicitly.
 */
export function selectSendingRuns(all: readonly Run[], sel: CopySelection): { runs: Run[]; named: Set<string> } {
  const specs = sel.runs ?? [];
  if (specs.length === 0 && !sel.all && !sel.where) {
    throw new UsageError("Specify runs to copy or use '--all'.", { hint: "Try 'gage ls' to list runs." });
  }
  const live = all.filter((r) => !r.deleted);
  const deleted = all.filter((r) => r.deleted);
  let runs: Run[];
  const named = new Set<string>();
  if (specs.length === 0) runs = live;
  else {
    const picked = new Set<Run>();
    for (const spec of specs) {
      let matched = matchRunSpec(live, spec);
      if (matched.length === 0) matched = deleted.filter((r) => r.id.startsWith(spec) || r.name.startsWith(spec));
      if (matched.length === 0) throw new RunNotFoundError(spec);
      for (const r of matched) {
        picked.add(r);
        named.add(r.id);
      }
    }
    runs = all.filter((r) => picked.has(r));
  }
  if (sel.where) runs = runs.filter(parseWhere(sel.where));
  return { runs, named };
}

const compareLimit = pLimit(8);
const runLimit = pLimit(4);

type RunOutcome =
  | { kind: "skippedDeleted"; run: Run }
  | { kind: "upToDate"; run: Run; conflicts: string[] }
  | { kind: "copy"; planned: PlannedRun; conflicts: string[] };

/**
 * Works out, for each selected run, which files the receiving side lacks or holds an older
 * version of. Nothing is written. Every key from outside is checked on the way (`parseRunKey`).
 *
 * @throws ConflictError naming runs and paths when files diverged and `force` is not set.
 * @throws UnsafePathError when a side from outside holds a symlink or a hostile key.
 */
export async function planRuns(
  sender: RunsSide,
  receiver: RunsSide,
  direction: CopyDirection,
  selected: readonly Run[],
  named: ReadonlySet<string>,
  sel: CopySelection,
): Promise<CopyPlanData> {
  const outcomes = await Promise.all(
    selected.map((run) => runLimit(() => planRun({ sender, receiver, direction, sel }, run, named.has(run.id)))),
  );
  const plan: CopyPlanData = { direction, runs: [], upToDate: [], skippedDeleted: [], forced: [] };
  const conflicts: RunConflict[] = [];
  for (const o of outcomes) {
    if (o.kind === "skippedDeleted") {
      plan.skippedDeleted.push(o.run);
      continue;
    }
    if (o.conflicts.length > 0) {
      const runId = o.kind === "copy" ? o.planned.run.id : o.run.id;
      (sel.force ? plan.forced : conflicts).push({ runId, paths: o.conflicts });
    }
    if (o.kind === "copy") plan.runs.push(o.planned);
    else plan.upToDate.push(o.run);
  }
  if (conflicts.length > 0) {
    throw new ConflictError(conflicts, {
      hint: direction === "to"
        ? "Use --force to overwrite the destination's versions with this side's (user attributes still merge)."
        : "Use --force to keep this side's versions and copy the rest (user attributes still merge).",
    });
  }
  return plan;
}

interface PlanContext {
  sender: RunsSide;
  receiver: RunsSide;
  direction: CopyDirection;
  sel: CopySelection;
}

async function planRun({ sender, receiver, direction, sel }: PlanContext, run: Run, named: boolean): Promise<RunOutcome> {
  const id = run.id;
  const parts = sel.only && sel.only.length > 0 ? sel.only : RUN_PARTS;
  const there = await receiver.listFiles([id, `${id}.meta`, `${id}.meta.deleted`, `${id}.user`]);
  for (const f of there) parseRunKey(f.key);
  const hasLive = there.some((f) => f.key.startsWith(`${id}.meta/`));
  const hasDeleted = there.some((f) => f.key.startsWith(`${id}.meta.deleted/`));
  if (hasDeleted && !hasLive && !run.deleted && !named) return { kind: "skippedDeleted", run };
  const sendMeta = partDir(id, "meta", run.deleted);
  const metaDir = hasLive ? `${id}.meta` : hasDeleted ? `${id}.meta.deleted` : sendMeta;
  const sent = await sender.listFiles(parts.map((p) => (p === "meta" ? sendMeta : partDir(id, p))));
  for (const f of sent) parseRunKey(f.key);
  const receivedByKey = new Map(there.map((f) => [f.key, f]));
  const sentManifest = parseManifest((await sender.readBytes(`${sendMeta}/manifest`))?.toString("utf8"));
  const receivedManifest = parseManifest((await receiver.readBytes(`${metaDir}/manifest`))?.toString("utf8"));

  // A storage keeps no modes: a finished run's files are read-only, as Gage leaves them; an
  // unfinished run's stay writable so that its runner can still finish it.
  const finished = run.status === "completed" || run.status === "error" || run.status === "terminated";
  const defaultMode = finished ? 0o444 : 0o644;
  const conflicts: string[] = [];
  const decided = await Promise.all(
    sent.map((f) =>
      compareLimit(async (): Promise<PlannedFile | undefined> => {
        const key = parseRunKey(f.key)!;
        const to = key.part === "meta" ? `${metaDir}/${key.rel}` : f.key;
        const planned: PlannedFile = { from: f.key, to, part: key.part, size: f.size, mode: f.mode ?? defaultMode, change: "new" };
        if (f.mtimeMs !== undefined) planned.mtimeMs = f.mtimeMs;
        const digest = key.part === "files" ? sentManifest.get(key.rel) : undefined;
        if (direction === "from" && digest !== undefined) planned.sha256 = digest;
        const received = receivedByKey.get(to);
        if (received === undefined) return planned;
        // User log entries are immutable and uniquely named: an existing one is never replaced.
        if (key.part === "user") return undefined;
        const relation = await relate({
          sender,
          receiver,
          sent: f,
          received,
          sentDigest: digest,
          receivedDigest: key.part === "files" ? receivedManifest.get(key.rel) : undefined,
        });
        if (relation === "same" || relation === "behind") return undefined;
        if (relation === "ahead") return { ...planned, change: "update" };
        conflicts.push(to);
        return sel.force && direction === "to" ? { ...planned, change: "force" } : undefined;
      }),
    ),
  );
  conflicts.sort();
  const files = decided.filter((f): f is PlannedFile => f !== undefined);
  if (files.length === 0) return { kind: "upToDate", run, conflicts };
  const planned: PlannedRun = { run, isNew: !hasLive && !hasDeleted, metaDir, files, bytes: files.reduce((n, f) => n + f.size, 0) };
  return { kind: "copy", planned, conflicts };
}

/** `new`, or what changes: `update 3, user +1`. */
export function describeRun(p: PlannedRun): string {
  if (p.isNew) return "new";
  const count = (pred: (f: PlannedFile) => boolean) => p.files.filter(pred).length;
  const out: string[] = [];
  const updates = count((f) => f.part !== "user" && f.change !== "force");
  const forced = count((f) => f.change === "force");
  const user = count((f) => f.part === "user");
  if (updates > 0) out.push(`update ${updates}`);
  if (forced > 0) out.push(`force ${forced}`);
  if (user > 0) out.push(`user +${user}`);
  return out.join(", ");
}

