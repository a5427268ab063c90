import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { DEFAULT_GRACE_MS, planGc, type GcProgressEvent, type GcResult } from "../../sync/gc.js";
import { assertCanAsk, confirmOrCancel } from "../confirm.js";
import type { CliContext } from "../context.js";
import { createTransferProgress, formatBytes, plural, type TransferProgress, type TransferUiOptions } from "../transfer-ui.js";
import { syncOptions } from "./push.js";

interface GcCliOptions extends TransferUiOptions {
  grace?: string;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `0`, `90s`, `30m`, `12h`, `1d`, `2w`, or several (`1d12h`). */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (/^0+$/.test(t)) return 0;
  const parts = [...t.matchAll(/(\d+(?:\.\d+)?)([smhdw])/g)];
  if (parts.length === 0 || parts.map((m) => m[0]).join("") !== t) {
    throw new UsageError(`Bad duration '${text}'`, { hint: "Give a number with a unit: 30m, 12h, 1d, 2w (or 0)." });
  }
  return Math.round(parts.reduce((ms, m) => ms + Number(m[1]) * UNITS[m[2]!]!, 0));
}

/** `1 day`, `12 hours`, `90 seconds`: the largest unit that divides the duration. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0 seconds";
  for (const [unit, size] of [["week", UNITS.w!], ["day", UNITS.d!], ["hour", UNITS.h!], ["minute", UNITS.m!]] as const) {
    if (ms % size === 0) return plural(ms / size, unit);
  }
  return plural(Math.round(ms / 1000), "second");
}

/** `Removed 3 packs (41.2 MB), 120 heads, 2 catalogs and 40 catalog segments (9.1 MB); 1,204 objects kept`, then what else changed. */
export function gcSummary(r: GcResult, dryRun: boolean): string[] {
  const p = r.packs;
  const would = (past: string, now: string) => (dryRun ? `Would ${now}` : past);
  const segments = r.segments.removed > 0 ? ` and ${plural(r.segments.removed, "catalog segment")} (${formatBytes(r.segments.removedBytes)})` : "";
  const lines = [
    `${would("Removed", "remove")} ${plural(p.removed, "pack")} (${formatBytes(p.removedBytes)}), ${plural(r.heads.removed, "head")}, ` +
      `${plural(r.catalogs.removed, "catalog")}${segments}; ${plural(r.objects.kept, "object")} kept`,
  ];
  if (r.catalogs.written) lines.push(`${would("Wrote", "write")} a catalog holding every head`);
  if (p.restored > 0) lines.push(`${would("Put back", "put back")} objects of ${plural(p.restored, "pack")} that heads reach again`);
  if (p.repacked > 0) lines.push(`${would("Repacked", "repack")} ${plural(p.repacked, "pack")}${dryRun ? "" : ` into ${plural(p.written, "new pack")} (${formatBytes(p.writtenBytes)})`}`);
  if (p.trimmed > 0) lines.push(`${would("Dropped", "drop")} unreachable objects from the index of ${plural(p.trimmed, "pack")}`);
  if (p.setAside > 0) {
    lines.push(`${plural(p.setAside, "pack")} (${formatBytes(p.setAsideBytes)}) out of use: a gc after ${formatDuration(r.graceMs)} removes ${p.setAside === 1 ? "it" : "them"}`);
  }
  if (p.reclaimableBytes > 0) lines.push(`${formatBytes(p.reclaimableBytes)} in packs still in use is unreachable (below the repack threshold, or recent)`);
  return lines;
}

/** One progress bar per long phase (marking, repacking); removals are quick and go unshown. */
function gcProgress(ctx: CliContext, enabled: boolean): { onProgress: (e: GcProgressEvent) => void; stop: () => void } {
  let bar: TransferProgress | undefined;
  let phase: GcProgressEvent["phase"] | undefined;
  const stop = () => {
    bar?.stop();
    bar = undefined;
  };
  return {
    onProgress: (e) => {
      if (e.phase !== phase) {
        stop();
        phase = e.phase;
        if (e.phase !== "remove" && e.total) bar = createTransferProgress(ctx, { enabled, unit: "objects", total: { files: e.total.items, bytes: e.total.bytes } });
      }
      bar?.advance(e.items, e.bytes);
    },
    stop,
  };
}

export function registerGc(program: Command, ctx: CliContext): void {
  program
    .command("gc")
    .summary("remove what no run on a remote needs any more")
    .description(
      "Remove from a remote's store the objects, heads, catalogs and catalog segments that no run needs any more: old " +
        "versions of changed files, and what interrupted pushes left. With no REMOTE, the runs directory's " +
        "default remote.\n\n" +
        "Nothing a run on the remote reaches is removed. Packs, heads and catalogs younger than the grace " +
        "period are spared, since a push under way may still need them; an unused pack is first set aside " +
        "(no longer listed) and removed by a gc at least the grace period later, unless a push needed it again. " +
        "Run one gc at a time on a remote.",
    )
    .argument("[remote]", "remote name, URL or path")
    .option("--grace <duration>", `spare what is younger than this: 30m, 12h, 1d, 2w, 0 (default ${formatDuration(DEFAULT_GRACE_MS)})`)
    .option("-y, --yes", "do not ask for confirmation")
    .option("--dry-run", "show what would be removed, remove nothing")
    .option("--json", "print the result as JSON")
    .action(async (remote: string | undefined, opts: GcCliOptions) => {
      const graceMs = opts.grace === undefined ? DEFAULT_GRACE_MS : parseDuration(opts.grace);
      // Marking a large remote takes a while: a script without -y learns it at once.
      if (!opts.yes && !opts.dryRun) assertCanAsk(ctx);
      const progress = gcProgress(ctx, !opts.json);
      const plan = await planGc({ ...syncOptions(ctx, remote, [], {}), graceMs, onProgress: progress.onProgress }).finally(progress.stop);
      const json = (result: GcResult, dryRun: boolean) => ctx.stdout.write(JSON.stringify({ remote: plan.remote, dryRun, result }, null, 2) + "\n");
      try {
        if (!plan.changes || opts.dryRun) {
          if (opts.json) json(plan.result, opts.dryRun ?? false);
          else if (!plan.changes) ctx.stderr.write(`Nothing to remove from ${plan.remote}; ${plural(plan.result.objects.kept, "object")} kept\n`);
          else {
            ctx.stdout.write(`${gcSummary(plan.result, true).join("\n")}\n`);
            ctx.stderr.write("Dry run: nothing was removed\n");
          }
          return;
        }
        if (!opts.yes) {
          ctx.stderr.write(`In ${plan.remote}:\n${gcSummary(plan.result, true).join("\n")}\n`);
          await confirmOrCancel(ctx, "Continue?", { default: false });
        }
        const result = await plan.execute(progress.onProgress).finally(progress.stop);
        if (opts.json) json(result, false);
        else ctx.stderr.write(`${gcSummary(result, false).join("\n")}\n`);
      } finally {
        await plan.close();
      }
    });
}
