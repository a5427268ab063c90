import { UnsafePathError } from "../../objects/errors.js";

/** The parts of a run that copy moves: `ID.meta/` (or `ID.meta.deleted/`), `ID.user/`, `ID/`. */
export type RunPart = "meta" | "user" | "files";

export const RUN_PARTS: readonly RunPart[] = ["meta", "user", "files"];

/** A run id as Gage writes it: a UUID string. */
export const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The top-level entry of a runs directory that holds `part`: `ID`, `ID.meta`, `ID.user`... */
export function partDir(id: string, part: RunPart, deleted = false): string {
  switch (part) {
    case "files":
      return id;
    case "user":
      return `${id}.user`;
    case "meta":
      return deleted ? `${id}.meta.deleted` : `${id}.meta`;
  }
}

export interface RunKey {
  id: string;
  part: RunPart;
  /** True for `ID.meta.deleted/...`. */
  deleted: boolean;
  /** The path below the part's directory, `/`-separated. */
  rel: string;
}

/**
 * Parses a key (a path relative to a runs directory, `/`-separated) from another side. Keys of
 * other shapes (`ID.project`, files beside the runs, temporary files) give undefined: copy never
 * reads or writes them. A key under a run's directories must be a plain relative path: no empty,
 * `.` or `..` segments, no NUL or backslash, and a user log entry is one `NAME.json`.
 *
 * @throws UnsafePathError for a key under a run's directories that breaks those rules.
 */
export function parseRunKey(key: string): RunKey | undefined {
  const slash = key.indexOf("/");
  if (slash < 0) return undefined;
  const top = key.slice(0, slash);
  const rel = key.slice(slash + 1);
  const m = /^([^.]+)(\.meta|\.meta\.deleted|\.user)?$/.exec(top);
  if (!m || !RUN_ID.test(m[1]!)) return undefined;
  const id = m[1]!;
  const suffix = m[2];
  const part: RunPart = suffix === undefined ? "files" : suffix === ".user" ? "user" : "meta";
  const problem = unsafeRelPath(rel) ?? (part === "user" && (rel.includes("/") || !rel.endsWith(".json")) ? "a user log entry must be one NAME.json" : undefined);
  if (problem) throw new UnsafePathError(key, problem);
  return { id, part, deleted: suffix === ".meta.deleted", rel };
}

/** Why `rel` is not a plain relative path, or undefined when it is. */
export function unsafeRelPath(rel: string): string | undefined {
  if (rel === "") return "empty path";
  if (rel.startsWith("/")) return "absolute path";
  if (rel.includes("\0") || rel.includes("\\")) return "NUL or backslash in path";
  for (const segment of rel.split("/")) {
    if (segment === "" || segment === "." || segment === "..") return "empty, '.' or '..' segment";
  }
  return undefined;
}
