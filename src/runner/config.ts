import { readFileSync, writeFileSync } from "node:fs";
import { extname, join } from "node:path";
import { parse as parseToml, stringify as stringifyToml } from "smol-toml";
import { parseDocument } from "yaml";
import { PythonConfig } from "./config-py.js";
import { splitLinesKeepEnds, unifiedDiff } from "./diff.js";
import { globRegex, selectFiles } from "./file-select.js";
import { PyFloat, type ConfigValue, type RunConfig } from "./values.js";

/** A config file: its flat `key → value` config and how to write new values into it. */
interface ConfigFile {
  values: Map<string, ConfigValue>;
  apply(values: RunConfig): string;
}

interface ParsedPath {
  filePattern: string | undefined;
  fileExclude: boolean;
  keyPattern: string | undefined;
  keyExclude: boolean;
}

function parsePath(spec: string): ParsedPath {
  let path = spec;
  let excluded = false;
  if (path.startsWith("\\-")) path = path.slice(1);
  else if (path.startsWith("-")) [path, excluded] = [path.replace(/^- */, ""), true];
  const hash = path.indexOf("#");
  const filePart = hash < 0 ? path : path.slice(0, hash);
  const keyPart = hash < 0 ? undefined : path.slice(hash + 1);
  return {
    filePattern: filePart || undefined,
    fileExclude: keyPart ? false : excluded,
    keyPattern: keyPart !== undefined ? keyPart : excluded ? undefined : "*",
    keyExclude: excluded,
  };
}

/** One config spec resolved in a directory: its files, their config, and the keys flags may set. */
interface ResolvedSpec {
  files: Array<{ path: string; config: ConfigFile }>;
  keys: Set<string>;
}

function resolveSpec(dir: string, spec: readonly string[]): ResolvedSpec {
  const paths = spec.map(parsePath);
  const filePatterns = paths.filter((p) => p.filePattern).map((p) => (p.fileExclude ? "-" : "") + p.filePattern);
  const include = paths.filter((p) => p.keyPattern && !p.keyExclude).map((p) => globRegex(p.keyPattern!, "."));
  const exclude = paths.filter((p) => p.keyPattern && p.keyExclude).map((p) => globRegex(p.keyPattern!, "."));
  const files: ResolvedSpec["files"] = [];
  const keys = new Set<string>();
  for (const path of selectFiles(dir, filePatterns)) {
    const config = readConfigFile(join(dir, path));
    if (!config) continue;
    files.push({ path, config });
    for (const key of config.values.keys()) {
      if (include.some((re) => re.test(key)) && !exclude.some((re) => re.test(key))) keys.add(key);
    }
  }
  return { files, keys };
}

/** The project's config for an operation: every key of its config files (later files win). */
export function readProjectConfig(projectDir: string, specs: readonly string[][]): { config: RunConfig; flags: string[] } {
  const config: RunConfig = {};
  const flags = new Set<string>();
  for (const spec of specs) {
    const resolved = resolveSpec(projectDir, spec);
    for (const { config: file } of resolved.files) for (const [k, v] of file.values) config[k] = v;
    for (const key of resolved.keys) flags.add(key);
  }
  return { config, flags: [...flags].sort() };
}

/**
 * Writes `config` into the run directory's copies of the config files and returns the unified
 * diffs of the files that changed, by path (for `log/patched`).
 */
export function applyConfig(runDir: string, specs: readonly string[][], config: RunConfig): Array<[string, string[]]> {
  const diffs: Array<[string, string[]]> = [];
  for (const spec of specs) {
    const { files, keys } = resolveSpec(runDir, spec);
    for (const { path, config: file } of files) {
      const values: RunConfig = Object.fromEntries(file.values);
      for (const key of keys) if (key in config && file.values.has(key)) values[key] = config[key]!;
      const filename = join(runDir, path);
      const before = readFileSync(filename, "utf8");
      const after = file.apply(values);
      const diff = unifiedDiff(splitLinesKeepEnds(before), splitLinesKeepEnds(after), path);
      if (diff.length) {
        writeFileSync(filename, after);
        diffs.push([path, diff]);
      }
    }
  }
  return diffs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function readConfigFile(filename: string): ConfigFile | undefined {
  let text: string;
  try {
    text = readFileSync(filename, "utf8");
  } catch {
    return undefined;
  }
  const ext = extname(filename);
  if (ext === ".py") {
    const py = new PythonConfig(text);
    return { values: py.values, apply: (values) => py.apply(values) };
  }
  if (ext === ".json") return dataConfig(text, JSON.parse, (obj) => JSON.stringify(obj, null, 2) + (text.endsWith("\n") ? "\n" : ""));
  if (ext === ".toml") return dataConfig(text, parseToml, (obj) => stringifyToml(obj) + "\n");
  if (ext === ".yaml" || ext === ".yml") {
    const doc = parseDocument(text);
    return dataConfig(text, () => doc.toJS(), (_obj, changed) => {
      for (const [key, value] of changed) doc.setIn(key.split("."), toPlain(value));
      return String(doc);
    });
  }
  return undefined;
}

/**
 * A JSON, TOML or YAML file: nested tables flatten to dotted keys; lists are values. A file
 * whose values do not change is written back unchanged.
 */
function dataConfig(
  text: string,
  parse: (text: string) => unknown,
  serialize: (obj: Record<string, unknown>, changed: Array<[string, ConfigValue]>) => string,
): ConfigFile | undefined {
  let data: unknown;
  try {
    data = parse(text);
  } catch {
    return undefined;
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) return undefined;
  const values = new Map<string, ConfigValue>();
  const flatten = (obj: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(obj)) {
      if (v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date)) flatten(v as Record<string, unknown>, `${prefix}${k}.`);
      else values.set(prefix + k, fromPlain(v));
    }
  };
  flatten(data as Record<string, unknown>, "");
  return {
    values,
    apply(newValues) {
      const changed = Object.entries(newValues).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(values.get(k)));
      if (changed.length === 0) return text;
      const obj = structuredClone(data) as Record<string, unknown>;
      for (const [key, value] of changed) {
        const parts = key.split(".");
        let node = obj;
        for (const part of parts.slice(0, -1)) node = node[part] as Record<string, unknown>;
        node[parts.at(-1)!] = toPlain(value);
      }
      return serialize(obj, changed);
    },
  };
}

function fromPlain(v: unknown): ConfigValue {
  if (typeof v === "number" && !Number.isInteger(v)) return new PyFloat(v);
  if (Array.isArray(v)) return v.map(fromPlain);
  if (v === null || typeof v === "boolean" || typeof v === "number" || typeof v === "string") return v;
  return String(v);
}

function toPlain(v: ConfigValue): unknown {
  if (v instanceof PyFloat) return v.value;
  if (Array.isArray(v)) return v.map(toPlain);
  return v;
}
