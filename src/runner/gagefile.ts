import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parse as parseToml } from "smol-toml";
import { parse as parseYaml } from "yaml";
import { GagefileError, OperationError } from "./errors.js";
import { comparePy } from "./values.js";

/** Where Gage looks for a gagefile in a project directory, in order. */
export const GAGEFILE_NAMES = [".gage/gage.toml", ".gage/gage.yaml", ".gage/gage.json", "gage.toml", "gage.yaml", "gage.json"];

/** One operation's table from the gagefile, written as is to `opdef.json`. */
export type OpDefData = Record<string, unknown>;

export interface Gagefile {
  path: string;
  projectDir: string;
  operations: Record<string, OpDefData>;
}

/** The operation to run: its name, table and the gagefile that defines it. */
export interface OpDef {
  name: string;
  data: OpDefData;
  gagefile: Gagefile;
}

/** What marks a project folder, as Gage's `find_project_dir` looks for them. */
const PROJECT_MARKERS = [".gage", "gage.json", "gage.toml", "gage.yaml", "gageconfig.json", "gageconfig.toml", "gageconfig.yaml", "pyproject.toml", ".vscode", ".git"];

/**
 * The project directory for a command run in `cwd`: the nearest folder, `cwd` or above, with a
 * project marker (a gagefile, `.git`, `pyproject.toml`, ...), else `cwd` itself.
 */
export function findProjectDir(cwd: string): string {
  let dir = resolve(cwd);
  for (;;) {
    if (PROJECT_MARKERS.some((name) => existsSync(join(dir, name)))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return resolve(cwd);
    dir = parent;
  }
}

/**
 * Reads the project's gagefile (TOML, YAML or JSON): a table of operations.
 * @throws GagefileError when it is missing, cannot be parsed or is not a table of tables.
 */
export function loadGagefile(projectDir: string): Gagefile {
  const name = GAGEFILE_NAMES.find((n) => existsSync(join(projectDir, n)));
  if (!name) {
    throw new GagefileError(projectDir, "No operations defined for the current directory", {
      hint: `Create a gage.toml in ${projectDir} that defines an operation (see examples/hello).`,
    });
  }
  const path = join(projectDir, name);
  let data: unknown;
  try {
    const text = readFileSync(path, "utf8");
    data = path.endsWith(".toml") ? parseToml(text) : path.endsWith(".yaml") ? parseYaml(text) : parseJsonWithComments(text);
  } catch (err) {
    throw new GagefileError(path, `There was an issue reading operations from ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (data === null || data === undefined) data = {};
  if (typeof data !== "object" || Array.isArray(data)) {
    throw new GagefileError(path, `There was an issue reading operations from ${path}: expected a table of operations`);
  }
  const operations: Record<string, OpDefData> = {};
  for (const [op, def] of Object.entries(data as Record<string, unknown>)) {
    if (op.startsWith("$")) continue;
    if (def === null || typeof def !== "object" || Array.isArray(def)) {
      throw new GagefileError(path, `There was an issue reading operations from ${path}: operation '${op}' must be a table`);
    }
    operations[op] = def as OpDefData;
  }
  return { path, projectDir, operations };
}

/** JSON in which lines starting with `//` are comments (as Gage reads gage.json). */
function parseJsonWithComments(text: string): unknown {
  return JSON.parse(
    text
      .split(/(?<=\n)/)
      .filter((line) => !line.trimStart().startsWith("//"))
      .join(""),
  );
}

/**
 * The operation named `opspec`, or without one the default: the operation marked
 * `default = true`, else the only operation. (Python Gage picks the alphabetically first one.)
 * @throws OperationError listing the defined operations.
 */
export function resolveOperation(gagefile: Gagefile, opspec: string | undefined): OpDef {
  const names = Object.keys(gagefile.operations).sort(comparePy);
  if (opspec) {
    const data = gagefile.operations[opspec];
    if (!data) throw new OperationError(opspec, names);
    return { name: opspec, data, gagefile };
  }
  const marked = names.filter((n) => gagefile.operations[n]!.default === true);
  const chosen = marked.length === 1 ? marked[0] : names.length === 1 ? names[0] : undefined;
  if (!chosen) throw new OperationError(undefined, names);
  return { name: chosen, data: gagefile.operations[chosen]!, gagefile };
}

/** The op's run command: a string (run through the shell) or a list of arguments. */
export function opExec(opdef: OpDef): string | string[] | undefined {
  const exec = opdef.data.exec;
  const run = exec !== null && typeof exec === "object" && !Array.isArray(exec) ? (exec as Record<string, unknown>).run : exec;
  if (typeof run === "string" && run !== "") return run;
  if (Array.isArray(run) && run.length > 0) return run.map(String);
  return undefined;
}

/** The op's source code patterns: Gage's defaults unless `sourcecode` says otherwise. */
export function opSourcecodePatterns(opdef: OpDef, defaults: readonly string[]): string[] {
  const value = opdef.data.sourcecode;
  if (value === true || value === undefined || value === null) return [...defaults];
  if (value === false) return [];
  const patterns = typeof value === "string" ? [value] : Array.isArray(value) ? value.map(String) : [];
  if (patterns.length === 0) return [];
  return patterns.some((p) => !p.startsWith("-")) ? patterns : [...defaults, ...patterns];
}

/** The op's config specs, each a list of `file[#key]` patterns (a leading `-` excludes). */
export function opConfigSpecs(opdef: OpDef): string[][] {
  const value = opdef.data.config;
  if (value === undefined || value === null) return [];
  const items = Array.isArray(value) ? value : [value];
  return items.map((item) => {
    const keys = typeof item === "string" ? item : (item as Record<string, unknown>)?.keys;
    return (Array.isArray(keys) ? keys : [keys]).filter((k): k is string => typeof k === "string" && k !== "");
  });
}
