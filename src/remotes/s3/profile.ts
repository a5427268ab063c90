import { readFile } from "node:fs/promises";

/**
 * The `region` of a profile in an AWS config file (`[default]` or `[profile NAME]`), read here
 * because the SDK's own lookup reads `process.env`, not the environment we were given.
 */
export async function regionFromProfile(profile: string, configFile: string): Promise<string | undefined> {
  const text = await readFile(configFile, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  const wanted = profile === "default" ? ["default", "profile default"] : [`profile ${profile}`];
  let inSection = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const section = /^\[\s*(.+?)\s*\]$/.exec(line);
    if (section) {
      inSection = wanted.includes(section[1]!);
      continue;
    }
    const pair = /^region\s*=\s*(\S+)/.exec(line);
    if (inSection && pair) return pair[1];
  }
  return undefined;
}
