import { readFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { isAbsolute, join } from "node:path";
import SSHConfig from "ssh-config";
import type { BackendSettings, OpenContext } from "../backend.js";
import type { StorageLocation } from "../url.js";

export type SshLocation = Extract<StorageLocation, { type: "ssh" }>;

/** Where and how to connect, after `~/.ssh/config`. */
export interface SshTarget {
  /** The name in the URL (maybe a `Host` alias), for messages. */
  alias: string;
  /** The address to connect to (`HostName`, else the name in the URL). */
  hostname: string;
  port: number;
  user: string;
  /** Private key files to try, in order (only those that exist are tried). */
  identityFiles: string[];
  /** Whether ssh-agent may be used (`IdentitiesOnly no`, and SSH_AUTH_SOCK set). */
  agent: string | undefined;
  knownHostsFiles: string[];
  /** The name known_hosts entries are looked up by (`HostKeyAlias`, else the hostname). */
  hostKeyName: string;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function all(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(/\s+/)).filter((v) => v !== "");
}

/**
 * Resolves a location against `~/.ssh/config` (Host aliases with HostName, User, Port,
 * IdentityFile, IdentitiesOnly, UserKnownHostsFile, HostKeyAlias). What the URL or the remote's
 * settings say wins over the config file, as on the `ssh` command line. `Match exec` is not run.
 */
export async function resolveSshTarget(location: SshLocation, settings: BackendSettings, ctx: OpenContext): Promise<SshTarget> {
  const home = ctx.home;
  const text = await readFile(join(home, ".ssh", "config"), "utf8").catch(() => "");
  const config = SSHConfig.parse(text).compute(location.host, { ignoreCase: true, matchExec: false });
  const hostname = (first(config.hostname) ?? location.host).replace(/%h/g, location.host);
  const user =
    location.user ??
    (settings.user as string | undefined) ??
    first(config.user) ??
    ctx.env.USER ??
    ctx.env.LOGNAME ??
    userInfo().username;
  const port = location.port ?? (settings.port as number | undefined) ?? Number(first(config.port) ?? 22);
  const expand = (path: string): string => {
    const expanded = path
      .replace(/^~(?=\/|$)/, home)
      .replace(/%d/g, home)
      .replace(/%u/g, ctx.env.USER ?? user)
      .replace(/%r/g, user)
      .replace(/%h/g, hostname)
      .replace(/%p/g, String(port))
      .replace(/%%/g, "%");
    return isAbsolute(expanded) ? expanded : join(home, expanded);
  };
  const configured = settings.identity_file !== undefined ? [settings.identity_file as string] : all(config.identityfile);
  const identityFiles = (
    configured.length > 0 ? configured : ["~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"]
  ).map(expand);
  const identitiesOnly = first(config.identitiesonly)?.toLowerCase() === "yes";
  const knownHostsFiles = all(config.userknownhostsfile);
  return {
    alias: location.host,
    hostname,
    port,
    user,
    identityFiles,
    agent: identitiesOnly ? undefined : ctx.env.SSH_AUTH_SOCK || undefined,
    knownHostsFiles: (knownHostsFiles.length > 0 ? knownHostsFiles : ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"])
      .map(expand)
      .concat("/etc/ssh/ssh_known_hosts"),
    hostKeyName: first(config.hostkeyalias) ?? hostname,
  };
}
