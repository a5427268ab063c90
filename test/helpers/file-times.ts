import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";

/** Every file and symlink below `dir` ("a/b.txt") → its modification time in whole microseconds, as lstat gives it. */
export function fileTimes(dir: string, rel = "", out = new Map<string, number>()): Map<string, number> {
  for (const name of readdirSync(join(dir, rel))) {
    const p = rel === "" ? name : `${rel}/${name}`;
    const st = lstatSync(join(dir, p), { bigint: true });
    if (st.isDirectory()) fileTimes(dir, p, out);
    else out.set(p, Number(st.mtimeNs / 1000n));
  }
  return out;
}
