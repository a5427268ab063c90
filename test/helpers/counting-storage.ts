import type { Storage } from "../../src/remotes/storage.js";

/** A storage that counts the GETs of each top-level key prefix (`catalog`, `segments`, `heads`, `packs`). */
export function countingGets(storage: Storage): Storage & { gets: Map<string, number> } {
  const gets = new Map<string, number>();
  const count = (k: string) => gets.set(k.split("/")[0]!, (gets.get(k.split("/")[0]!) ?? 0) + 1);
  return {
    url: storage.url,
    gets,
    get: (k, r) => (count(k), storage.get(k, r)),
    getBytes: (k, r) => (count(k), storage.getBytes(k, r)),
    put: (k, d) => storage.put(k, d),
    stat: (k) => storage.stat(k),
    list: (p, o) => storage.list(p, o),
    ...(storage.listKeys ? { listKeys: (p: string, o?: { startAfter?: string }) => storage.listKeys!(p, o) } : {}),
    ...(storage.filePath ? { filePath: (k: string) => storage.filePath!(k) } : {}),
    delete: (k) => storage.delete(k),
    close: () => storage.close(),
  };
}
