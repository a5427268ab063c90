import type { Command } from "commander";
import type { CliContext } from "../context.js";

/** A command module: adds its subcommand to the program. */
export type RegisterCommand = (program: Command, ctx: CliContext) => void;

/**
 * A command: the names it answers to (with aliases) and how to load its module. Modules load on
 * demand because a command that runs in well under a second (a no-change push) must not spend a
 * fifth of it loading every other command's dependencies (the runner's YAML parser, tables).
 */
export interface CommandModule {
  names: readonly string[];
  load: () => Promise<RegisterCommand>;
}

/** Every command, in the order `gage --help` lists them. Add new commands here. */
export const commands: CommandModule[] = [
  { names: ["run"], load: async () => (await import("./run.js")).registerRun },
  { names: ["ls", "list", "runs"], load: async () => (await import("./ls.js")).registerLs },
  { names: ["select"], load: async () => (await import("./select.js")).registerSelect },
  { names: ["show"], load: async () => (await import("./show.js")).registerShow },
  { names: ["label"], load: async () => (await import("./label.js")).registerLabel },
  { names: ["comment"], load: async () => (await import("./comment.js")).registerComment },
  { names: ["associate"], load: async () => (await import("./associate.js")).registerAssociate },
  { names: ["delete", "rm"], load: async () => (await import("./delete.js")).registerDelete },
  { names: ["restore"], load: async () => (await import("./restore.js")).registerRestore },
  { names: ["purge"], load: async () => (await import("./purge.js")).registerPurge },
  { names: ["copy"], load: async () => (await import("./copy.js")).registerCopy },
  { names: ["push"], load: async () => (await import("./push.js")).registerPush },
  { names: ["pull"], load: async () => (await import("./pull.js")).registerPull },
  { names: ["clone"], load: async () => (await import("./clone.js")).registerClone },
  { names: ["status"], load: async () => (await import("./status.js")).registerStatus },
  { names: ["gc"], load: async () => (await import("./gc.js")).registerGc },
  { names: ["verify"], load: async () => (await import("./verify.js")).registerVerify },
  { names: ["remote"], load: async () => (await import("./remote.js")).registerRemote },
  { names: ["serve"], load: async () => (await import("./serve.js")).registerServe },
];

/**
 * The commands a command line needs: the one its first word names; none for the version alone;
 * else all of them (help, an unknown command and its suggestions need the full list).
 */
export function commandsFor(argv: readonly string[]): CommandModule[] {
  const first = argv.find((a) => !a.startsWith("-"));
  const named = first === undefined ? undefined : commands.find((c) => c.names.includes(first));
  if (named) return [named];
  const has = (...flags: string[]) => argv.some((a) => flags.includes(a));
  return first === undefined && has("-V", "--version") && !has("-h", "--help") ? [] : commands;
}
