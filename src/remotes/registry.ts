import { ConfigError } from "../errors.js";
import type { BackendOption, BackendSettings, StorageBackend } from "./backend.js";
import { localBackend } from "./local/backend.js";
import { memoryBackend } from "./memory/backend.js";
import { s3Backend } from "./s3/backend.js";
import { sshBackend } from "./ssh/backend.js";
import type { StorageType } from "./url.js";

/** Every storage backend, listed explicitly. Adding one here makes the conformance meta-test demand its suite. */
export const backends: { readonly [T in StorageType]: StorageBackend<T> } = {
  local: localBackend,
  s3: s3Backend,
  ssh: sshBackend,
  memory: memoryBackend,
};

export const storageTypes = Object.keys(backends) as StorageType[];

/** Options every backend accepts besides its own. */
export const commonOptions: readonly BackendOption[] = [
  { name: "type", help: "The backend: " + storageTypes.join(", "), type: "string" },
  { name: "concurrency", help: "Calls in flight at once", type: "integer" },
];

export function backendOptions(type: StorageType): readonly BackendOption[] {
  return [...commonOptions, ...backends[type].options];
}

/**
 * Checks raw settings (from a `[repos.NAME]` table or the library caller) against the backend's
 * option table: unknown names and wrong types throw `ConfigError`.
 */
export function checkSettings(type: StorageType, raw: Record<string, unknown>, source?: string): BackendSettings {
  return checkOptions(backendOptions(type), type, raw, source);
}

/** `checkSettings` against any option table; `kind` names the remote's kind in messages (`git`). */
export function checkOptions(table: readonly BackendOption[], kind: string, raw: Record<string, unknown>, source?: string): BackendSettings {
  const settings: Record<string, string | number | boolean> = {};
  const where = source === undefined ? "" : ` in ${source}`;
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    const option = table.find((o) => o.name === name);
    if (!option) {
      throw new ConfigError(`Unknown option '${name}' for a ${kind} remote${where}`, {
        file: source,
        hint: `Options of ${kind} remotes: ${table.map((o) => o.name).join(", ")}.`,
      });
    }
    const ok =
      option.type === "integer" ? Number.isSafeInteger(value) && (value as number) > 0 : typeof value === option.type;
    if (!ok) {
      throw new ConfigError(`Option '${name}'${where} must be ${option.type === "integer" ? "a positive integer" : `a ${option.type}`}`, {
        file: source,
      });
    }
    settings[name] = value as string | number | boolean;
  }
  return settings;
}

/** `settings` fit for display: secret values replaced by `***`. */
export function redactSettings(type: StorageType, settings: BackendSettings): BackendSettings {
  const secret = new Set(backendOptions(type).filter((o) => o.secret).map((o) => o.name));
  return Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, secret.has(k) ? "***" : v]));
}
