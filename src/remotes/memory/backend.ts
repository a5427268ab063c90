import type { Storage } from "../storage.js";
import type { StorageBackend } from "../backend.js";

const named = new Map<string, Storage>();

/** In-process objects, for tests: every open of `memory://NAME` in one process shares NAME's objects. */
export const memoryBackend: StorageBackend<"memory"> = {
  type: "memory",
  summary: "Objects held in this process's memory (for tests)",
  options: [],
  defaultConcurrency: 64,
  async open(location) {
    const { MemoryStorage } = await import("./index.js");
    let storage = named.get(location.name);
    if (!storage) {
      storage = new MemoryStorage(location.name);
      named.set(location.name, storage);
    }
    return storage;
  },
};
