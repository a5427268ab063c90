import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, get, type Server } from "node:https";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import type * as Tls from "node:tls";
import { takeDeferredCaCerts, trustDeferredCaCerts } from "../../src/cli/deferred-ca-certs.js";
import { makeCertificates } from "../helpers/certificates.js";
import { tempDir } from "../helpers/fixtures.js";

// trustDeferredCaCerts in this process (it changes node:tls for the whole process: this file's
// tests are written in order), against a real HTTPS server whose certificate a private authority
// signed. The command's own path, through bin/gage and S3, is test/cli/launcher.test.ts.

// The module object that Node's TLS connections call through (an ES namespace is read-only)
const tls = createRequire(import.meta.url)("node:tls") as typeof Tls;
const tmp = tempDir("gage-deferred-ca-");
let server: Server;
let url: string;
let caFile: string;

before(async () => {
  const certs = await makeCertificates(tmp.path);
  caFile = certs.ca;
  server = createServer({ key: readFileSync(certs.key), cert: readFileSync(certs.cert) }, (_req, res) => res.end("hello"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
after(() => {
  server?.close();
  tmp.cleanup();
});

/** The body fetched with fresh connections and `options`, or the error's code. */
function fetchText(options: Tls.ConnectionOptions = {}): Promise<string> {
  return new Promise((resolve) => {
    get(url, { ...options, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d));
      res.on("end", () => resolve(body));
    }).on("error", (err: NodeJS.ErrnoException) => resolve(`error ${err.code}`));
  });
}

test("takeDeferredCaCerts puts NODE_EXTRA_CA_CERTS back and names the file only when Node did not load one", () => {
  const env: NodeJS.ProcessEnv = { GAGE_DEFERRED_CA_CERTS: "/a.pem" };
  assert.equal(takeDeferredCaCerts(env), "/a.pem");
  assert.deepEqual(env, { NODE_EXTRA_CA_CERTS: "/a.pem" });
  const loaded: NodeJS.ProcessEnv = { GAGE_DEFERRED_CA_CERTS: "/a.pem", NODE_EXTRA_CA_CERTS: "/b.pem" };
  assert.equal(takeDeferredCaCerts(loaded), undefined, "Node read /b.pem at start");
  assert.deepEqual(loaded, { NODE_EXTRA_CA_CERTS: "/b.pem" });
  assert.equal(takeDeferredCaCerts({}), undefined);
});

// Contexts Node's TLS makes beneath the deferred trust (set below): how many, and the last one's ca.
let contextsMade = 0;
let lastCa: unknown;

test("connections trust the deferred file's authority once it is set, with options of their own or none", async () => {
  assert.equal(await fetchText(), "error UNABLE_TO_VERIFY_LEAF_SIGNATURE", "not trusted before");
  const create = tls.createSecureContext;
  tls.createSecureContext = (options) => {
    contextsMade++;
    lastCa = options?.ca;
    return create(options);
  };
  trustDeferredCaCerts(caFile, tls);
  assert.equal(await fetchText(), "hello");
  assert.equal(await fetchText({ minVersion: "TLSv1.2" }), "hello", "a context of its own options");
  assert.equal(await fetchText({ cert: undefined, key: undefined, ciphers: tls.DEFAULT_CIPHERS }), "hello");
  // A connection that names its own authorities is left to them, as NODE_EXTRA_CA_CERTS leaves it.
  assert.equal(await fetchText({ ca: tls.rootCertificates[0] }), "error UNABLE_TO_VERIFY_LEAF_SIGNATURE");
  assert.equal(await fetchText({ ca: readFileSync(caFile, "latin1") }), "hello");
});

test("connections with the same context options share one context; Node's own roots are in it", async () => {
  const before = contextsMade;
  for (let i = 0; i < 3; i++) assert.equal(await fetchText(), "hello");
  for (let i = 0; i < 2; i++) assert.equal(await fetchText({ minVersion: "TLSv1.2" }), "hello");
  assert.equal(contextsMade, before, "every connection above reused a context made in the test before");
  assert.equal(await fetchText({ minVersion: "TLSv1.3" }), "hello");
  assert.equal(contextsMade, before + 1, "other options, another context");
  // The authorities trusted: Node's roots, then the file's, as NODE_EXTRA_CA_CERTS adds them.
  assert.deepEqual(lastCa, [...tls.rootCertificates, readFileSync(caFile, "latin1")]);
  const context = tls.createSecureContext();
  assert.equal(context, tls.createSecureContext({ servername: "x" } as Tls.SecureContextOptions), "a connection's own keys are not the context's");
});
