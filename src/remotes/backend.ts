import type { Storage } from "./storage.js";
import type { StorageLocation, StorageType } from "./url.js";

/** One option a backend accepts in a `[repos.NAME]` table: the one place its help, default and secrecy live. */
export interface BackendOption {
  name: string;
  help: string;
  type: "string" | "boolean" | "integer";
  default?: string | number | boolean;
  /** Never printed: `gage remote ls` and messages show `***`. */
  secret?: boolean;
}

/** Backend options after validation against the backend's option table. */
export type BackendSettings = Readonly<Record<string, string | number | boolean>>;

/** What a backend may read from the outside world. */
export interface OpenContext {
  env: NodeJS.ProcessEnv;
  /** The home folder: `~/.ssh`, `~/.aws` are found here. */
  home: string;
  /** Where the settings come from (`[repos.NAME] of FILE`), for hints about them. */
  origin?: string;
}

/**
 * A storage backend as the registry (src/remotes/registry.ts) lists it. `open` imports the
 * backend's implementation (and its SDK) only when called.
 */
export interface StorageBackend<T extends StorageType = StorageType> {
  type: T;
  summary: string;
  options: readonly BackendOption[];
  /** Calls in flight at once unless the remote config says otherwise. */
  defaultConcurrency: number;
  open(location: Extract<StorageLocation, { type: T }>, settings: BackendSettings, ctx: OpenContext): Promise<Storage>;
}
