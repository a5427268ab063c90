import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import { UsageError } from "../errors.js";
import { ServeAuthRequiredError } from "./errors.js";

export type Access = "write" | "read";

export interface AuthOptions {
  /** Grants reading and writing (comments, labels). */
  token?: string;
  /** Grants reading only. */
  readToken?: string;
  /** Serve a non-loopback address without a token. */
  noAuth?: boolean;
}

/** A credential a request presented, and the access it grants. */
export interface Credential {
  access: Access;
  /** What a CSRF token is bound to: the session, the bearer token's access, or the open server. */
  identity: string;
  /** A name given at login (comments' author). */
  name?: string;
  /** Presented as `Authorization: Bearer` (not an ambient browser credential). */
  bearer: boolean;
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "");
  if (h === "localhost") return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  return h === "::1";
}

/** Checks the options for a bind address: beyond loopback, a token or an explicit `--no-auth`. */
export function checkAuthOptions(host: string, opts: AuthOptions): void {
  const hasToken = Boolean(opts.token || opts.readToken);
  if (opts.noAuth && hasToken) throw new UsageError("--no-auth cannot be used with --token or --read-token");
  if (opts.token && opts.readToken && opts.token === opts.readToken) throw new UsageError("--token and --read-token must differ");
  if (!isLoopback(host) && !hasToken && !opts.noAuth) throw new ServeAuthRequiredError(host);
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Constant-time comparison: both sides hashed first, so neither content nor length leaks. */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

const SESSION_MS = 7 * 24 * 3600 * 1000;
/** Failed attempts from one address wait this long, doubling, up to the maximum. */
const FAIL_BASE_MS = 250;
const FAIL_MAX_MS = 8000;

/**
 * Tokens, login sessions (random ids behind an HttpOnly cookie), CSRF tokens (an HMAC of the
 * credential's identity with a per-process secret) and the slowing of failed attempts.
 */
export class Auth {
  readonly open: boolean;
  readonly #opts: AuthOptions;
  readonly #secret = randomBytes(32);
  readonly #sessions = new Map<string, { access: Access; name?: string; expires: number }>();
  readonly #failures = new Map<string, { count: number; until: number }>();
  readonly #now: () => number;

  constructor(opts: AuthOptions, now: () => number = Date.now) {
    this.#opts = opts;
    this.open = !opts.token && !opts.readToken;
    this.#now = now;
  }

  /** The access a token grants, compared in constant time against both. */
  accessFor(token: string): Access | undefined {
    const w = this.#opts.token ? sameSecret(token, this.#opts.token) : false;
    const r = this.#opts.readToken ? sameSecret(token, this.#opts.readToken) : false;
    return w ? "write" : r ? "read" : undefined;
  }

  /** The credential of a request: open server, bearer token or session cookie. */
  credential(authorization: string | undefined, sessionId: string | undefined): Credential | undefined | "bad-token" {
    if (authorization !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      const access = m ? this.accessFor(m[1]!) : undefined;
      if (access === undefined) return "bad-token";
      return { access, identity: `bearer:${access}`, bearer: true };
    }
    if (this.open) return { access: "write", identity: "open", bearer: false };
    if (sessionId === undefined) return undefined;
    const s = this.#sessions.get(sessionId);
    if (s === undefined || s.expires < this.#now()) {
      this.#sessions.delete(sessionId ?? "");
      return undefined;
    }
    return { access: s.access, identity: `session:${sessionId}`, ...(s.name ? { name: s.name } : {}), bearer: false };
  }

  /** Starts a login session; returns its id (the cookie's value) and lifetime in seconds. */
  startSession(access: Access, name: string | undefined): { id: string; maxAge: number } {
    const id = randomBytes(32).toString("base64url");
    this.#sessions.set(id, { access, ...(name ? { name } : {}), expires: this.#now() + SESSION_MS });
    return { id, maxAge: SESSION_MS / 1000 };
  }

  endSession(id: string | undefined): void {
    if (id !== undefined) this.#sessions.delete(id);
  }

  csrfToken(cred: Credential): string {
    return createHmac("sha256", this.#secret).update(cred.identity).digest("base64url");
  }

  checkCsrf(cred: Credential, given: string | undefined): boolean {
    return given !== undefined && sameSecret(given, this.csrfToken(cred));
  }

  /** Milliseconds an address must still wait before its next attempt is looked at (0: none). */
  penalty(address: string): number {
    const f = this.#failures.get(address);
    return f === undefined ? 0 : Math.max(0, f.until - this.#now());
  }

  /** Records a failed attempt; returns how long to hold the answer back. */
  failed(address: string): number {
    const f = this.#failures.get(address) ?? { count: 0, until: 0 };
    f.count++;
    const wait = Math.min(FAIL_MAX_MS, FAIL_BASE_MS * 2 ** (f.count - 1));
    f.until = this.#now() + wait;
    this.#failures.set(address, f);
    if (this.#failures.size > 10_000) this.#failures.delete(this.#failures.keys().next().value!);
    return wait;
  }

  succeeded(address: string): void {
    this.#failures.delete(address);
  }
}
