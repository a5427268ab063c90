import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { SecureContext, SecureContextOptions } from "node:tls";

/**
 * NODE_EXTRA_CA_CERTS, trusted from the first TLS connection rather than from Node's start.
 *
 * Node 20 reads that file and builds its whole certificate store before any JavaScript runs, on
 * every start, though most gage commands (a folder or SSH remote, `ls`, `label`) make no TLS
 * connection. The launcher (bin/gage) hands the variable over as GAGE_DEFERRED_CA_CERTS;
 * `takeDeferredCaCerts` puts it back for the commands gage starts, and `trustDeferredCaCerts`
 * makes every TLS context this process creates without its own `ca` trust Node's root
 * certificates and the file's, as NODE_EXTRA_CA_CERTS would have: S3 and its credential
 * providers, Git over HTTPS, whatever library makes the connection.
 */
const DEFERRED_CA_CERTS = "GAGE_DEFERRED_CA_CERTS";

/**
 * The file the launcher deferred, if any: NODE_EXTRA_CA_CERTS is set back in `env` (the commands
 * gage runs see it as it was given) and GAGE_DEFERRED_CA_CERTS removed.
 */
export function takeDeferredCaCerts(env: NodeJS.ProcessEnv): string | undefined {
  const file = env[DEFERRED_CA_CERTS];
  delete env[DEFERRED_CA_CERTS];
  if (!file) return undefined;
  // Node loaded a NODE_EXTRA_CA_CERTS of its own at start (set besides the launcher's)
  if (env.NODE_EXTRA_CA_CERTS) return undefined;
  env.NODE_EXTRA_CA_CERTS = file;
  return file;
}

// The options that `tls.createSecureContext` reads (Node's documentation of it); any other key
// of a connection's options (host, servername, rejectUnauthorized...) belongs to the connection.
const CONTEXT_OPTIONS = [
  "cert",
  "ciphers",
  "clientCertEngine",
  "crl",
  "dhparam",
  "ecdhCurve",
  "honorCipherOrder",
  "key",
  "maxVersion",
  "minVersion",
  "passphrase",
  "pfx",
  "privateKeyEngine",
  "privateKeyIdentifier",
  "secureOptions",
  "secureProtocol",
  "sessionIdContext",
  "sessionTimeout",
  "sigalgs",
  "ticketKeys",
] as const;

type Tls = typeof import("node:tls");

/**
 * Makes `tls.createSecureContext` trust Node's root certificates and those of `file` whenever it
 * is given no `ca`, reading the file at the first such call. A file that cannot be read is
 * ignored with a warning, as Node ignores it. Contexts are shared between connections whose
 * context options are the same plain values (every `tls.connect` passes Node's default ciphers):
 * a context given a `ca` parses every certificate again, where Node's own store is built once.
 */
export function trustDeferredCaCerts(file: string, tls: Tls = createRequire(import.meta.url)("node:tls") as Tls): void {
  const create = tls.createSecureContext;
  let ca: string[] | undefined;
  const shared = new Map<string, SecureContext>();
  const trusted = (): string[] => {
    if (ca !== undefined) return ca;
    ca = [...tls.rootCertificates];
    try {
      ca.push(readFileSync(file, "latin1"));
    } catch (err) {
      process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(err as Error).message}`);
    }
    return ca;
  };
  tls.createSecureContext = (options?: SecureContextOptions): SecureContext => {
    if (options?.ca !== undefined) return create(options);
    const values = CONTEXT_OPTIONS.map((key) => options?.[key as keyof SecureContextOptions]);
    // keys, certificates and the like (objects) are not compared: such a context is made anew
    if (values.some((v) => v !== null && typeof v === "object")) return create({ ...options, ca: trusted() });
    const key = JSON.stringify(values);
    let context = shared.get(key);
    if (context === undefined) {
      context = create({ ...options, ca: trusted() });
      shared.set(key, context);
    }
    return context;
  };
}
