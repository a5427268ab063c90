import { createHash, createHmac } from "node:crypto";
import { readFile } from "node:fs/promises";

/** How a host key compares with the known_hosts files. */
export type HostKeyVerdict = "known" | "unknown" | "changed" | "revoked";

/** The name OpenSSH looks a host up by: `host`, or `[host]:port` off port 22. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** `SHA256:...` as `ssh-keygen -l` and `ssh` print it. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

/** The algorithm name at the start of an SSH public key blob (`ssh-ed25519`, ...). */
export function keyType(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return "";
  const length = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + length).toString("latin1");
}

interface KnownHostLine {
  marker: "" | "@revoked" | "@cert-authority";
  patterns: string;
  type: string;
  key: string;
}

function parseLines(text: string): KnownHostLine[] {
  const lines: KnownHostLine[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(/\s+/);
    const marker = fields[0]!.startsWith("@") ? (fields.shift() as KnownHostLine["marker"]) : "";
    const [patterns, type, key] = fields;
    if (patterns && type && key) lines.push({ marker, patterns, type, key });
  }
  return lines;
}

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`, "i");
}

/** Whether a known_hosts host field (hashed `|1|salt|hash`, or patterns with `*`, `?`, `!`) names `name`. */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith("|1|")) {
    const [, , salt, hash] = field.split("|");
    if (!salt || !hash) return false;
    const digest = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
    return digest === hash;
  }
  let matched = false;
  for (const pattern of field.split(",")) {
    const negated = pattern.startsWith("!");
    if (globToRegExp(negated ? pattern.slice(1) : pattern).test(name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/**
 * Compares a server's host key with known_hosts text, as OpenSSH does: a revoked key is refused,
 * the same key under the host's name is known, another key of the same type is a changed key, and
 * anything else is unknown. `@cert-authority` lines are not supported (they never match).
 */
export function checkHostKey(knownHosts: string, name: string, keyBlob: Buffer): HostKeyVerdict {
  const type = keyType(keyBlob);
  const key = keyBlob.toString("base64");
  let verdict: HostKeyVerdict = "unknown";
  for (const line of parseLines(knownHosts)) {
    if (line.marker === "@revoked") {
      if (line.key === key) return "revoked";
      continue;
    }
    if (line.marker === "@cert-authority" || !hostFieldMatches(line.patterns, name)) continue;
    if (line.key === key) verdict = "known";
    else if (line.type === type && verdict !== "known") verdict = "changed";
  }
  return verdict;
}

/** Key types known_hosts holds for `name`, to ask the server for one of them first, as OpenSSH does. */
export function knownKeyTypes(knownHosts: string, name: string): string[] {
  const types = parseLines(knownHosts)
    .filter((l) => l.marker === "" && hostFieldMatches(l.patterns, name))
    .map((l) => l.type);
  return [...new Set(types)];
}

/** The text of every known_hosts file that exists, joined. */
export async function readKnownHosts(files: string[]): Promise<string> {
  const texts = await Promise.all(files.map((f) => readFile(f, "utf8").catch(() => "")));
  return texts.join("\n");
}
