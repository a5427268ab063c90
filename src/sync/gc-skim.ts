import { isObjectId, type ObjectId } from "../objects/index.js";
import type { RawRun } from "./lazy-runs.js";
import { containerAt, skipValue, stringAt } from "./msgpack-spans.js";

/** What gc follows of one run entry: the trees it stands at, and its times objects. */
export interface EntryRoots {
  run: ObjectId;
  meta: ObjectId;
  times: ObjectId[];
}

/**
 * The fields of the map at `b[p]` whose keys and values are strings (other pairs are skipped, as
 * no string key of a decoded object could name them); the last of a repeated key wins, as when
 * decoded. Undefined when the value there is not a map. No object per field is made.
 */
function stringFields(b: Buffer, p: number): Map<string, string> | undefined {
  const map = containerAt(b, p);
  if (map?.kind !== "map") return undefined;
  const out = new Map<string, string>();
  p = map.body;
  for (let k = 0; k < map.count; k++) {
    const key = stringAt(b, p);
    const valueAt = key?.end ?? skipValue(b, p);
    const next = skipValue(b, valueAt);
    if (key !== undefined) {
      // An id takes 66 bytes; a longer string is no id, and is not made into one.
      const value = next - valueAt <= 72 ? stringAt(b, valueAt) : undefined;
      if (value !== undefined) out.set(key.value, value.value);
      else out.delete(key.value);
    }
    p = next;
  }
  return out;
}

/**
 * The trees and times objects of each entry of a run read as bytes, decoding those fields alone:
 * summaries and user logs are most of an entry, and gc reads neither. Undefined when an entry is
 * not as expected; the caller then decodes the run whole, which says what is wrong.
 */
export function skimRoots(raw: RawRun): EntryRoots[] | undefined {
  try {
    const out: EntryRoots[] = [];
    let p = raw.p;
    for (let i = 0; i < raw.n; i++) {
      const map = containerAt(raw.b, p);
      if (map?.kind !== "map") return undefined;
      const found: { run?: ObjectId; meta?: ObjectId; times: ObjectId[] } = { times: [] };
      p = map.body;
      for (let k = 0; k < map.count; k++) {
        const key = stringAt(raw.b, p);
        if (key === undefined) return undefined;
        const end = skipValue(raw.b, key.end);
        if (key.value === "run" || key.value === "meta") {
          const tree = stringFields(raw.b, key.end)?.get("tree");
          if (!isObjectId(tree)) return undefined;
          found[key.value] = tree;
        } else if (key.value === "times") {
          const t = stringFields(raw.b, key.end);
          // Times are hints (checkTimes): one that is not an id is left out, as a decoded entry leaves it.
          if (t !== undefined) for (const id of [t.get("run"), t.get("meta")]) if (isObjectId(id)) found.times.push(id);
        }
        p = end;
      }
      if (found.run === undefined || found.meta === undefined) return undefined;
      out.push({ run: found.run, meta: found.meta, times: found.times });
    }
    return p === raw.end ? out : undefined;
  } catch {
    return undefined;
  }
}
