import { randomBytes } from "node:crypto";
import { findRemote, openRemoteSpec, redactRemote, type RemoteContext, type RemoteSpec } from "./config.js";
import type { RetryOptions } from "./retry.js";
import type { Storage } from "./storage.js";

export type CheckStepName = "connect" | "write" | "read" | "delete";

export interface CheckStep {
  step: CheckStepName;
  status: "ok" | "failed" | "skipped";
  /** Why it failed (a `RemoteError` for every expected failure). */
  error?: unknown;
}

export interface CheckResult {
  /** The remote checked, secrets redacted. */
  remote: RemoteSpec;
  steps: CheckStep[];
  ok: boolean;
}

export interface CheckOptions extends RemoteContext {
  retry?: RetryOptions | false;
  /** Called once the remote is resolved, before connecting (with secrets redacted). */
  onStart?: (remote: RemoteSpec) => void;
  /** Called as each step ends, to report progress. */
  onStep?: (step: CheckStep) => void;
}

/** The steps of a check as they end: `attempt` runs one, a failure recorded as its outcome. */
export function checkSteps(onStep?: (step: CheckStep) => void): {
  steps: CheckStep[];
  record: (step: CheckStep) => boolean;
  attempt: (step: CheckStepName, run: () => Promise<void>) => Promise<boolean>;
} {
  const steps: CheckStep[] = [];
  const record = (step: CheckStep): boolean => {
    steps.push(step);
    onStep?.(step);
    return step.status === "ok";
  };
  const attempt = async (step: CheckStepName, run: () => Promise<void>): Promise<boolean> => {
    try {
      await run();
      return record({ step, status: "ok" });
    } catch (error) {
      return record({ step, status: "failed", error });
    }
  };
  return { steps, record, attempt };
}

/** Where probes go: a folder of its own, so a check never touches a remote's data. */
export const PROBE_PREFIX = ".gage-check/";

/**
 * Connects to a remote (by name or URL), writes a probe object, reads it back, and deletes it,
 * reporting each step. Connecting includes a listing, so that wrong credentials fail there.
 * Steps after a failure are skipped, except that a written probe is always deleted.
 * @throws ConfigError or RemoteUrlError when the name or URL cannot be resolved (nothing to check).
 */
export async function checkRemote(nameOrUrl: string, options: CheckOptions = {}): Promise<CheckResult> {
  const spec = await findRemote(nameOrUrl, options);
  options.onStart?.(redactRemote(spec));
  if (spec.type === "git") {
    const { checkGitRemote } = await import("./git/check.js");
    return checkGitRemote(spec, options.env ?? {}, options.onStep);
  }
  const { steps, record, attempt } = checkSteps(options.onStep);
  const skip = (step: CheckStepName): false => {
    record({ step, status: "skipped" });
    return false;
  };
  const key = `${PROBE_PREFIX}probe-${randomBytes(8).toString("hex")}`;
  const probe = Buffer.from(`gage remote check probe ${key}\n`);
  let storage: Storage | undefined;
  try {
    const connected = await attempt("connect", async () => {
      storage = await openRemoteSpec(spec, options);
      for await (const entry of storage.list(PROBE_PREFIX)) void entry;
    });
    const written = connected ? await attempt("write", () => storage!.put(key, probe)) : skip("write");
    if (written) {
      await attempt("read", async () => {
        const back = await storage!.getBytes(key);
        if (!back.equals(probe)) throw new Error(`the probe read back differs from what was written (${back.length} of ${probe.length} bytes)`);
      });
      await attempt("delete", () => storage!.delete(key));
    } else {
      skip("read");
      skip("delete");
    }
  } finally {
    await storage?.close().catch(() => undefined);
  }
  return { remote: redactRemote(spec), steps, ok: steps.every((s) => s.status === "ok") };
}
