import { commitStateFile, readStateFile } from "./files.js";
import { statePaths } from "./layout.js";

/** The runs directory's default remote (`gage clone`, `gage remote default`), if one is set. */
export function readDefaultRemote(runsDir: string): string | undefined {
  const bytes = readStateFile(statePaths.config(runsDir));
  if (!bytes) return undefined;
  try {
    const doc = JSON.parse(bytes.toString("utf8")) as { defaultRemote?: unknown };
    return typeof doc.defaultRemote === "string" && doc.defaultRemote !== "" ? doc.defaultRemote : undefined;
  } catch {
    return undefined;
  }
}

export function writeDefaultRemote(runsDir: string, remote: string): void {
  commitStateFile(statePaths.config(runsDir), JSON.stringify({ defaultRemote: remote }, null, 2) + "\n", { durable: true });
}
