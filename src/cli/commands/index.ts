import type { Command } from "commander";
import type { CliContext } from "../context.js";

/** A command module: adds its subcommand to the program. */
export type RegisterCommand = (program: Command, ctx: CliContext) => void;

/** Every command, in the order `gage --help` lists them. Add new commands here. */
export const commands: RegisterCommand[] = [];
