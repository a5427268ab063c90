import type { Command } from "commander";
import { GageError } from "../../errors.js";
import { checkRemote, type CheckStep } from "../../remotes/check.js";
import { listRemotes, redactRemote, type RemoteSpec } from "../../remotes/config.js";
import type { CliContext } from "../context.js";
import { exitCodeFor } from "../exit-codes.js";
import { registerRemoteDefault } from "./push.js";

function describe(remote: RemoteSpec): string {
  return remote.name === undefined ? remote.url : `${remote.name} (${remote.url})`;
}

function stepLine(step: CheckStep): string {
  return `  ${step.step.padEnd(8)} ${step.status}\n`;
}

export function registerRemote(program: Command, ctx: CliContext): void {
  const remote = program
    .command("remote")
    .summary("list and check remotes")
    .description(
      "Remotes are where runs are pushed and pulled: a path or file:// URL, s3://BUCKET/PREFIX, " +
        "ssh://[USER@]HOST[:PORT]/PATH or USER@HOST:PATH, a Git repository (git+https://HOST/PATH[#BRANCH], " +
        "git+file:///PATH or a bare repository's path), or a name defined as [repos.NAME] in " +
        "gageconfig.toml or .gage/config.toml (in the project), or ~/.gage/config.toml.",
    );

  remote
    .command("ls")
    .alias("list")
    .summary("list configured remotes")
    .description("List the remotes defined in Gage's config files: name, type, URL and options (secrets shown as ***).")
    .option("--json", "print remotes as JSON")
    .action(async (opts: { json?: boolean }) => {
      const remotes = (await listRemotes({ cwd: ctx.cwd, env: ctx.env })).map(redactRemote);
      if (opts.json) {
        const json = remotes.map((r) => ({ name: r.name, type: r.type, url: r.url, options: r.settings, source: r.source }));
        ctx.stdout.write(JSON.stringify(json, null, 2) + "\n");
        return;
      }
      if (remotes.length === 0) {
        ctx.stdout.write("No remotes configured: add a [repos.NAME] table to gageconfig.toml or ~/.gage/config.toml\n");
        return;
      }
      // a list, not a table: URLs are long and must never be cut
      const nameWidth = Math.max(...remotes.map((r) => (r.name ?? "").length));
      const typeWidth = Math.max(...remotes.map((r) => r.type.length));
      for (const r of remotes) {
        ctx.stdout.write(`${(r.name ?? "").padEnd(nameWidth)}  ${r.type.padEnd(typeWidth)}  ${r.url}\n`);
        for (const [key, value] of Object.entries(r.settings)) {
          ctx.stdout.write(`${" ".repeat(nameWidth + typeWidth + 4)}${key} = ${String(value)}\n`);
        }
      }
    });

  remote
    .command("check")
    .summary("check that a remote works")
    .description(
      "Connect to a remote, write a probe object, read it back and delete it, reporting each step. " +
        "Exits 0 only when every step passes; otherwise with the status of the first failure.",
    )
    .argument("<remote>", "remote name, URL or path")
    .option("--json", "print the result as JSON")
    .action(async (target: string, opts: { json?: boolean }) => {
      const result = await checkRemote(target, {
        cwd: ctx.cwd,
        env: ctx.env,
        ...(opts.json
          ? {}
          : {
              onStart: (r: RemoteSpec) => ctx.stdout.write(`Checking ${describe(r)}\n`),
              onStep: (step: CheckStep) => ctx.stdout.write(stepLine(step)),
            }),
      });
      const failure = result.steps.find((s) => s.status === "failed")?.error;
      if (opts.json) {
        const steps = result.steps.map((s) => ({
          step: s.step,
          status: s.status,
          ...(s.error === undefined ? {} : { error: errorJson(s.error) }),
        }));
        ctx.stdout.write(JSON.stringify({ remote: { name: result.remote.name ?? null, type: result.remote.type, url: result.remote.url }, ok: result.ok, steps }, null, 2) + "\n");
        if (failure !== undefined) ctx.exitCode = failure instanceof GageError ? exitCodeFor(failure.code) : 1;
        return;
      }
      if (failure !== undefined) throw failure;
      ctx.stdout.write(`Remote ${describe(result.remote)} is ready\n`);
    });

  registerRemoteDefault(remote, ctx);
}

function errorJson(err: unknown): Record<string, unknown> {
  if (err instanceof GageError) return { code: err.code, message: err.message, hint: err.hint ?? null };
  return { code: null, message: err instanceof Error ? err.message : String(err), hint: null };
}
