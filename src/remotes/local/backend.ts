import type { StorageBackend } from "../backend.js";

export const localBackend: StorageBackend<"local"> = {
  type: "local",
  summary: "A folder on this machine, a shared drive or a network mount",
  options: [{ name: "path", help: "The folder (absolute, or relative to the project)", type: "string" }],
  defaultConcurrency: 8,
  async open(location) {
    const { LocalStorage } = await import("./index.js");
    return new LocalStorage(location.path);
  },
};
