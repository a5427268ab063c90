import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/**
 * Every run file under a runs directory (not `.gage-sync/`, `*.project` or deleted runs' meta),
 * relative path → mode and SHA-256 of its bytes: what two sides compare to be the same runs.
 */
export function runFiles(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      if (rel === "" && (name === ".gage-sync" || name.endsWith(".project") || name.endsWith(".deleted"))) continue;
      const p = rel === "" ? name : `${rel}/${name}`;
      const st = statSync(join(dir, p));
      if (st.isDirectory()) walk(p);
      else out.set(p, `${(st.mode & 0o777).toString(8)} ${createHash("sha256").update(readFileSync(join(dir, p))).digest("hex")}`);
    }
  };
  walk("");
  return out;
}
