import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/**
 * Every file of the live runs under a runs directory (not `.gage-sync/`, `*.project`, deleted runs),
 * relative path → mode and SHA-256 of its bytes: what two sides compare to be the same runs.
 */
export function runFiles(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const deleted = readdirSync(dir).filter((n) => n.endsWith(".meta.deleted")).map((n) => n.slice(0, -".meta.deleted".length));
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      if (rel === "" && (name === ".gage-sync" || name.endsWith(".project") || deleted.some((id) => name.startsWith(id)))) continue;
      const p = rel === "" ? name : `${rel}/${name}`;
      const st = statSync(join(dir, p));
      if (st.isDirectory()) walk(p);
      else out.set(p, `${(st.mode & 0o777).toString(8)} ${createHash("sha256").update(readFileSync(join(dir, p))).digest("hex")}`);
    }
  };
  walk("");
  return out;
}
