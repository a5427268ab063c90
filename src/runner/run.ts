import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, realpathSync } from "node:fs";
import { machine, release, type } from "node:os";
import { basename } from "node:path";
import { CancelledError } from "../errors.js";
import { runPaths, type RunPaths } from "../runs/layout.js";
import { runName } from "../runs/name.js";
import { writeProjectRef } from "../runs/project-ref.js";
import { pythonJsonDumps } from "../runs/py-json.js";
import { encodeOpref, listRuns } from "../runs/run.js";
import { selectOneRun } from "../runs/select.js";
import { appendUserLog } from "../runs/user-log.js";
import { applyConfig, readProjectConfig } from "./config.js";
import { FlagError, GagefileError, RunFailedError } from "./errors.js";
import { DEFAULT_SOURCECODE_PATTERNS, selectFiles } from "./file-select.js";
import { copyFiles, logRunFiles, readManifest, writeManifest } from "./files-log.js";
import { findProjectDir, loadGagefile, opConfigSpecs, opExec, opSourcecodePatterns, resolveOperation, type OpDefData } from "./gagefile.js";
import { MetaWriter, systemNowUs } from "./meta.js";
import { startProcess, withPython } from "./process.js";
import { parseFlagAssign, pyRepr, pythonJsonIndent, type RunConfig } from "./values.js";

/** What a run of an operation will be, before anything is written. */
export interface RunPlan {
  projectDir: string;
  gagefile: string;
  opref: { ns: string; name: string };
  /** `ns:op`, as `gage ls` shows it. */
  operation: string;
  opdef: OpDefData;
  /** The project's config with the flags applied: what `config.json` holds. */
  config: RunConfig;
  /** The flags the operation accepts (its config keys), sorted. */
  flags: string[];
  /** The config values the flags set. */
  flagValues: RunConfig;
  /** The command: a string (through the shell) or a list of arguments. */
  cmd: string | string[];
  sourcecode: string[];
  configSpecs: string[][];
}

export interface PlanOptions {
  /** Where the command runs; the project is the nearest folder at or above it with a gagefile. */
  cwd: string;
  /** The operation name; a `NAME=VALUE` here is taken as a flag (as Gage does). */
  opspec?: string;
  /** `NAME=VALUE` arguments. */
  flags?: readonly string[];
}

export interface RunOptions extends PlanOptions {
  runsDir: string;
  /** The environment of the operation's process. */
  env: NodeJS.ProcessEnv;
  /** `-l`: the first entry of the run's user log. */
  label?: string;
  /** Author of the label entry (Gage: the login name). */
  author: string;
  /** Stage the run only (`--stage`); start it later with `startRun`. */
  stageOnly?: boolean;
  /** Asked before anything is written; false cancels (`CancelledError`). */
  confirm?: (plan: RunPlan) => boolean | Promise<boolean>;
  /** The operation's output (stdout and stderr) as it comes. */
  onOutput?: (chunk: Uint8Array) => void;
  /** Aborting terminates the operation's process group with the abort reason (a signal name, default SIGTERM). */
  signal?: AbortSignal;
  /** Epoch microseconds (tests). */
  nowUs?: () => number;
}

export type RunOutcome = "completed" | "error" | "terminated" | "staged";

export interface RunResult {
  id: string;
  name: string;
  paths: RunPaths;
  operation: string;
  status: RunOutcome;
  /** The process's exit code (minus the signal number when terminated); absent when staged. */
  exitCode?: number;
}

/**
 * Resolves the gagefile, the operation, its config and the flags.
 * @throws GagefileError, OperationError, FlagError (an unparsable flag, or one that names no config key).
 */
export function planRun(opts: PlanOptions): RunPlan {
  let opspec = opts.opspec;
  const flagArgs = [...(opts.flags ?? [])];
  if (opspec && parseFlagAssign(opspec)) {
    flagArgs.unshift(opspec);
    opspec = undefined;
  }
  const projectDir = findProjectDir(opts.cwd);
  const gagefile = loadGagefile(projectDir);
  const opdef = resolveOperation(gagefile, opspec);
  const configSpecs = opConfigSpecs(opdef);
  const project = readProjectConfig(projectDir, configSpecs);
  const flagValues: RunConfig = {};
  for (const arg of flagArgs) {
    const parsed = parseFlagAssign(arg);
    if (!parsed) throw new FlagError(arg, `Invalid flag assignment '${arg}': expected NAME=VALUE`, project.flags);
    const [name, value] = parsed;
    if (!project.flags.includes(name)) {
      const valid = project.flags.length ? `Valid flags for ${opdef.name}: ${project.flags.join(", ")}` : `Operation ${opdef.name} has no flags`;
      throw new FlagError(name, `Unknown flag '${name}' for operation ${opdef.name}\n${valid}`, project.flags, {
        hint: `Try 'gage run ${opdef.name} --help-op'.`,
      });
    }
    flagValues[name] = value;
  }
  const cmd = opExec(opdef);
  if (!cmd) {
    throw new RunFailedError(`Operation ${opdef.name} defined in "${gagefile.path}" is missing an exec command`);
  }
  const ns = basename(realpathSync(projectDir));
  // Gage's opref (`1 ns op`) cannot hold spaces: neither the project folder's name nor the op's.
  if (/\s/.test(ns)) {
    throw new GagefileError(gagefile.path, `The project folder name '${ns}' has spaces, which a run's operation cannot hold`, {
      hint: "Rename the project folder.",
    });
  }
  if (/\s/.test(opdef.name)) {
    throw new GagefileError(gagefile.path, `The operation name '${opdef.name}' has spaces, which a run's operation cannot hold`);
  }
  const expand = (s: string) => s.replaceAll("$project_dir", projectDir);
  return {
    projectDir,
    gagefile: gagefile.path,
    opref: { ns, name: opdef.name },
    operation: `${ns}:${opdef.name}`,
    opdef: opdef.data,
    config: { ...project.config, ...flagValues },
    flags: project.flags,
    flagValues,
    cmd: typeof cmd === "string" ? expand(cmd) : cmd.map(expand),
    sourcecode: opSourcecodePatterns(opdef, DEFAULT_SOURCECODE_PATTERNS),
    configSpecs,
  };
}

/**
 * Makes a run as Python Gage does (`gage run`): writes `ID.meta/`, `ID.project` and the label,
 * stages the source code with the config applied, then (unless `stageOnly`) runs the command
 * in `ID/` and finalizes the run. The operation failing is not an error: see `status` and
 * `exitCode`.
 * @throws the errors of `planRun`; CancelledError when `confirm` says no.
 */
export async function runOperation(opts: RunOptions): Promise<RunResult> {
  const plan = planRun(opts);
  if (opts.confirm && !(await opts.confirm(plan))) throw new CancelledError();
  const nowUs = opts.nowUs ?? systemNowUs;
  const id = randomUUID();
  const paths = runPaths(opts.runsDir, id);
  mkdirSync(opts.runsDir, { recursive: true });
  mkdirSync(paths.metaDir);
  const meta = new MetaWriter(paths.metaDir, nowUs);
  meta.write("opref", encodeOpref(plan.opref));
  meta.write("__schema__", "1");
  meta.log("Writing meta id");
  meta.write("id", id);
  meta.log("Writing meta opdef");
  meta.write("opdef.json", pythonJsonIndent(plan.opdef));
  meta.log("Writing meta config");
  meta.write("config.json", pythonJsonIndent(plan.config));
  meta.log("Writing meta proc cmd");
  meta.write("proc/cmd.json", pythonJsonIndent(plan.cmd));
  meta.log("Writing meta proc env");
  meta.write("proc/env.json", "{}");
  meta.log("Writing meta sys/platform");
  meta.write("sys/platform.json", pythonJsonDumps(platformName()));
  meta.timestamp("initialized");
  await writeProjectRef(paths.projectFile, plan.projectDir);
  if (opts.label) {
    await appendUserLog(paths.userDir, { set: { label: opts.label } }, { author: opts.author, nowMs: Math.floor(nowUs() / 1000) });
  }
  stage(plan, paths, meta);
  const result = { id, name: runName(id), paths, operation: plan.operation };
  if (opts.stageOnly) return { ...result, status: "staged" };
  return { ...result, ...(await start(paths, meta, plan.cmd, opts)) };
}

function stage(plan: RunPlan, paths: RunPaths, meta: MetaWriter): void {
  mkdirSync(paths.runDir, { recursive: true });
  meta.log(`Copying source code (see log/files): ${pyRepr(plan.sourcecode)}`);
  copyFiles(plan.projectDir, paths.runDir, selectFiles(plan.projectDir, plan.sourcecode));
  meta.log("Applying configuration (see log/patched)");
  const diffs = applyConfig(paths.runDir, plan.configSpecs, plan.config);
  if (diffs.length) meta.write("log/patched", diffs.map(([, lines]) => lines.join("")).join(""));
  logRunFiles(paths.runDir, paths.metaDir, "s");
  meta.log("Finalizing staged files (see manifest)");
  writeManifest(paths.runDir, paths.metaDir);
  meta.timestamp("staged");
}

type StartOptions = Pick<RunOptions, "env" | "onOutput" | "signal" | "nowUs">;

async function start(paths: RunPaths, meta: MetaWriter, cmd: string | string[], opts: StartOptions): Promise<{ status: RunOutcome; exitCode: number }> {
  const nowUs = opts.nowUs ?? systemNowUs;
  meta.timestamp("started");
  meta.log(`Starting run process: ${typeof cmd === "string" ? cmd : pyRepr(cmd)}`);
  mkdirSync(`${paths.metaDir}/output`, { recursive: true });
  const python = withPython(opts.env);
  let exitCode: number;
  try {
    const proc = startProcess(
      cmd,
      paths.runDir,
      python.env,
      { outputPath: `${paths.metaDir}/output/40_run`, onOutput: opts.onOutput, nowMs: () => nowUs() / 1000 },
      opts.signal,
    );
    meta.log("Writing meta proc/lock");
    meta.write("proc/lock", String(proc.pid));
    exitCode = await proc.exit;
  } finally {
    python.cleanup();
  }
  meta.makeReadOnly("output/40_run");
  meta.makeReadOnly("output/40_run.index");
  meta.timestamp("stopped");
  meta.log("Writing meta proc/exit");
  meta.write("proc/exit", String(exitCode));
  meta.log("Deleting meta proc/lock");
  meta.remove("proc/lock");
  logRunFiles(paths.runDir, paths.metaDir, "g");
  meta.makeReadOnly("log/files");
  meta.log("Finalizing run files (see manifest)");
  const staged = readManifest(paths.metaDir);
  for (const [path, digest] of writeManifest(paths.runDir, paths.metaDir)) {
    const before = staged.get(path);
    if (before !== undefined && before !== digest) meta.log(`File "${path}" was modified during the run`);
  }
  meta.makeReadOnly("manifest");
  meta.makeReadOnly("log/runner");
  return { status: exitCode === 0 ? "completed" : exitCode > 0 ? "error" : "terminated", exitCode };
}

export interface StartRunOptions extends StartOptions {
  runsDir: string;
  /** A run spec (index, id or name prefix) of a staged run. */
  run: string;
  confirm?: (run: { id: string; name: string; operation: string; config: RunConfig }) => boolean | Promise<boolean>;
}

/**
 * Starts a staged run (`gage run --start RUN`).
 * @throws RunNotFoundError / AmbiguousRunError from the selection; RunFailedError when the run is not staged.
 */
export async function startRun(opts: StartRunOptions): Promise<RunResult> {
  const run = selectOneRun(await listRuns(opts.runsDir), opts.run);
  if (run.status !== "staged") {
    throw new RunFailedError(`Run "${run.id}" is '${run.status}'\n\nOnly staged runs can be started with '--start'.`);
  }
  const readJson = (rel: string) => JSON.parse(readFileSync(`${run.paths.metaDir}/${rel}`, "utf8")) as unknown;
  const config = readJson("config.json") as RunConfig;
  if (opts.confirm && !(await opts.confirm({ id: run.id, name: run.name, operation: run.operation, config }))) {
    throw new CancelledError();
  }
  const cmd = readJson("proc/cmd.json") as string | string[];
  const meta = new MetaWriter(run.paths.metaDir, opts.nowUs ?? systemNowUs);
  for (const rel of ["log/runner", "log/files", "manifest"]) meta.makeWritable(rel);
  const outcome = await start(run.paths, meta, cmd, opts);
  return { id: run.id, name: run.name, paths: run.paths, operation: run.operation, ...outcome };
}

/** Python's `platform.platform()` on Linux: `Linux-<release>-<machine>-with-glibc<version>`. */
export function platformName(): string {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  const glibc = report?.header?.glibcVersionRuntime;
  return `${type()}-${release()}-${machine()}${glibc ? `-with-glibc${glibc}` : ""}`;
}
