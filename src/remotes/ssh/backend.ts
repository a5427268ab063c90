import type { StorageBackend } from "../backend.js";

export const sshBackend: StorageBackend<"ssh"> = {
  type: "ssh",
  summary: "A folder on an SSH server, through SFTP: ssh://[USER@]HOST[:PORT]/PATH or USER@HOST:PATH",
  options: [
    { name: "url", help: "ssh://[USER@]HOST[:PORT]/PATH or USER@HOST:PATH", type: "string" },
    { name: "user", help: "Login name; default from the URL, ~/.ssh/config, then USER", type: "string" },
    { name: "port", help: "Port; default from the URL, ~/.ssh/config, then 22", type: "integer" },
    { name: "identity_file", help: "Private key file; default IdentityFile from ~/.ssh/config, ssh-agent, ~/.ssh/id_*", type: "string" },
  ],
  defaultConcurrency: 8,
  async open(location, settings, ctx) {
    const { openSshStorage } = await import("./storage.js");
    return openSshStorage(location, settings, ctx);
  },
};
