#!/usr/bin/env node
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { runsDirFrom } from "../runs/runs-dir.js";
import { startRunSums } from "../sync/started-sums.js";
import { loadBundle } from "./code-cache.js";
import type { CliContext } from "./context.js";
import { takeDeferredCaCerts, trustDeferredCaCerts } from "./deferred-ca-certs.js";

// bin/gage defers NODE_EXTRA_CA_CERTS past Node's start (src/cli/deferred-ca-certs.ts)
const deferredCaCerts = takeDeferredCaCerts(process.env);
if (deferredCaCerts !== undefined) trustDeferredCaCerts(deferredCaCerts);

// The command itself is dist/bundle/cli.cjs, run with its code cache (src/cli/code-cache.ts). This
// file is bundled as CommonJS too (dist/bundle/gage.cjs): an ES entry starts Node's ES loader first.
const argv = process.argv.slice(2);

// Commands that sum every run's folders up start that before loading the rest: the sums, most
// of a no-change push, run on the other cores meanwhile (src/sync/started-sums.ts).
const SUMMING = new Set(["push", "pull", "status"]);
const startedSums =
  SUMMING.has(argv[0] ?? "") && !argv.includes("-h") && !argv.includes("--help")
    ? startRunSums(runsDirFrom(process.cwd(), process.env), { threads: availableParallelism(), nowMs: Date.now() })
    : undefined;

const { main, processContext } = loadBundle(fileURLToPath(new URL("./cli.cjs", import.meta.url))).exports as {
  main: (argv: string[], ctx: CliContext) => Promise<number>;
  processContext: () => CliContext;
};
const ctx = processContext();
if (startedSums !== undefined) ctx.startedSums = startedSums;
void main(argv, ctx).then((code) => {
  process.exitCode = code;
  // Sums no plan took (the command ended first) would hold the process until they are done.
  startedSums?.stop();
});
