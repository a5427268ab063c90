import { Packr } from "msgpackr/pack";
import { isObjectId, type ObjectId } from "../objects/index.js";
import type { RawRun } from "./lazy-runs.js";
import { containerAt, skipValue, stringAt } from "./msgpack-spans.js";

const packr = new Packr({ useRecords: false, variableMapSize: true });

/** What gc follows of one run entry: the trees it stands at, and its times objects. */
export interface EntryRoots {
  run: ObjectId;
  meta: ObjectId;
  times: ObjectId[];
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
          const v = packr.unpack(raw.b.subarray(key.end, end)) as { tree?: unknown } | null;
          if (v === null || typeof v !== "object" || !isObjectId(v.tree)) return undefined;
          found[key.value] = v.tree;
        } else if (key.value === "times") {
          const t = packr.unpack(raw.b.subarray(key.end, end)) as { run?: unknown; meta?: unknown } | null;
          // Times are hints (checkTimes): one that is not an id is left out, as a decoded entry leaves it.
          if (t !== null && typeof t === "object") for (const id of [t.run, t.meta]) if (isObjectId(id)) found.times.push(id);
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
