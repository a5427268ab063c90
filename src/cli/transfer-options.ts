import type { Command } from "commander";
import { UsageError } from "../errors.js";
import type { RunPart } from "../sync/copy/index.js";

/** Options every transfer command (copy, push, pull, clone) shares. */
export interface TransferCliOptions {
  all?: boolean;
  where?: string;
  only?: string;
  yes?: boolean;
  dryRun?: boolean;
  json?: boolean;
  force?: boolean;
  verbose?: boolean;
}

/** How a command names what it does, for its option help. */
export interface TransferVerbs {
  /** `push` */
  verb: string;
  /** `pushed` */
  participle: string;
  /** What `--force` keeps, in this command's terms. */
  force: string;
  /** Whether naming no run means all runs (push, pull, clone) or is an error (copy, as Gage). */
  allByDefault: boolean;
}

/** Adds the options every transfer command shares, with help in the command's own words. */
export function transferOptions(cmd: Command, { verb, participle, force, allByDefault }: TransferVerbs): Command {
  return cmd
    .option("-a, --all", `${verb} all runs${allByDefault ? " (the default when no run is named)" : ""}`)
    .option("-w, --where <expr>", `${verb} runs matching a filter (as gage ls)`)
    .option("--only <parts>", `${verb} only these parts of runs: meta,user,files`)
    .option("-y, --yes", "do not ask for confirmation")
    .option("--dry-run", `show what would be ${participle}, move nothing`)
    .option("--json", "print the result as JSON")
    .option("-v, --verbose", "list every run in the preview (by default the first 20, then a count)")
    .option("--force", force);
}

const PART_NAMES: Record<string, RunPart> = { meta: "meta", user: "user", files: "files", dir: "files" };

/** `--only meta,user` → the parts; `dir` is another name for `files` (the run's `ID/`). */
export function parseOnly(text: string): RunPart[] {
  const parts = new Set<RunPart>();
  for (const word of text.split(",").map((w) => w.trim()).filter(Boolean)) {
    const part = PART_NAMES[word];
    if (!part) throw new UsageError(`Unknown part '${word}' for --only`, { hint: "Use a comma-separated list of meta, user and files." });
    parts.add(part);
  }
  if (parts.size === 0) throw new UsageError("--only needs at least one of meta, user, files");
  return [...parts];
}
