import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { registerRun } from "./run.js";
import { registerLs } from "./ls.js";
import { registerSelect } from "./select.js";
import { registerShow } from "./show.js";
import { registerLabel } from "./label.js";
import { registerComment } from "./comment.js";
import { registerAssociate } from "./associate.js";
import { registerDelete } from "./delete.js";
import { registerRestore } from "./restore.js";
import { registerPurge } from "./purge.js";
import { registerCopy } from "./copy.js";
import { registerPush } from "./push.js";
import { registerPull } from "./pull.js";
import { registerClone } from "./clone.js";
import { registerStatus } from "./status.js";
import { registerRemote } from "./remote.js";

/** A command module: adds its subcommand to the program. */
export type RegisterCommand = (program: Command, ctx: CliContext) => void;

/** Every command, in the order `gage --help` lists them. Add new commands here. */
export const commands: RegisterCommand[] = [
  registerRun,
  registerLs,
  registerSelect,
  registerShow,
  registerLabel,
  registerComment,
  registerAssociate,
  registerDelete,
  registerRestore,
  registerPurge,
  registerCopy,
  registerPush,
  registerPull,
  registerClone,
  registerStatus,
  registerRemote,
];
