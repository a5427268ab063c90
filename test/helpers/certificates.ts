/**
 * A private certificate authority and a certificate it signed for 127.0.0.1, made with OpenSSL's
 * command line (installed with apt-get when missing, as the other Debian tools of the tests).
 */
import { execFile } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { installDebianPackages } from "./apt.js";

const run = promisify(execFile);

export interface TestCertificates {
  /** The authority's certificate (PEM), what NODE_EXTRA_CA_CERTS would name. */
  ca: string;
  /** The server's key and certificate (PEM files). */
  key: string;
  cert: string;
}

/** Writes the authority's and the server's files into `dir`. */
export async function makeCertificates(dir: string): Promise<TestCertificates> {
  await installDebianPackages("OpenSSL's command line (for the TLS tests)", ["openssl"], () => existsSync("/usr/bin/openssl"));
  const at = (name: string) => join(dir, name);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await run("openssl", ["req", "-x509", ...ec, "-keyout", at("ca.key"), "-out", at("ca.pem"), "-days", "2", "-subj", "/CN=gage test authority"]);
  await run("openssl", ["req", ...ec, "-keyout", at("server.key"), "-out", at("server.csr"), "-subj", "/CN=127.0.0.1"]);
  writeFileSync(at("san.cnf"), "subjectAltName=IP:127.0.0.1\n");
  await run("openssl", ["x509", "-req", "-in", at("server.csr"), "-CA", at("ca.pem"), "-CAkey", at("ca.key"), "-CAcreateserial", "-out", at("server.pem"), "-days", "2", "-extfile", at("san.cnf")]);
  return { ca: at("ca.pem"), key: at("server.key"), cert: at("server.pem") };
}
