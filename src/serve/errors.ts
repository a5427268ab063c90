import { GageError, type GageErrorOptions } from "../errors.js";

/** `gage serve` asked to listen beyond this machine without a token (or `--no-auth`). */
export class ServeAuthRequiredError extends GageError {
  readonly host: string;
  constructor(host: string, options: GageErrorOptions = {}) {
    super("SERVE_AUTH_REQUIRED", `Refusing to serve on ${host} without a token: anyone who can reach it could read and comment on your runs`, {
      hint: "Give --token TOKEN (or set GAGE_SERVE_TOKEN), add --read-token for view-only access, or pass --no-auth to serve it open.",
      ...options,
    });
    this.host = host;
  }
}

/** The server cannot listen (port taken, address not on this machine). */
export class ServeListenError extends GageError {
  constructor(message: string, options: GageErrorOptions = {}) {
    super("SERVE_LISTEN", message, options);
  }
}
