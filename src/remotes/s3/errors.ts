import { BrokenTransferError } from "../streams.js";
import { AuthError, NotFoundError, PermissionError, StoreNotFoundError, UnreachableError } from "../errors.js";

const AUTH = new Set([
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "InvalidToken",
  "TokenRefreshRequired",
  "InvalidClientTokenId",
]);
const TRANSIENT = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "TooManyRequestsException",
  "RequestTimeout",
  "RequestTimeoutException",
  "InternalError",
  "ServiceUnavailable",
  "TimeoutError",
]);
const NETWORK = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

function networkCode(err: SdkError | undefined, depth = 0): string | undefined {
  if (!err || depth > 4) return undefined;
  if (err.code && NETWORK.has(err.code)) return err.code;
  if (/aborted|socket hang up|premature close/i.test(err.message ?? "")) return "ECONNRESET";
  return networkCode(err.cause as SdkError | undefined, depth + 1);
}

/** Which settings gave the credentials, for the hint when S3 refuses them. */
export interface CredentialSource {
  /** `[repos.NAME] of FILE`, when the keys or the profile were set there. */
  origin?: string;
  /** What the table set: its keys, or a profile. */
  kind?: "keys" | "profile";
}

/** The settings a user fixes when S3 refuses the credentials. */
function credentialsHint(source: CredentialSource): string {
  if (source.origin !== undefined && source.kind === "keys") {
    return `Check access_key_id and secret_access_key in ${source.origin} (they are used instead of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).`;
  }
  if (source.origin !== undefined && source.kind === "profile") {
    return `Check the profile named by 'profile' in ${source.origin}, and its keys in ~/.aws/credentials.`;
  }
  return "Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE and ~/.aws/credentials.";
}

/** An AWS SDK (or socket) error as the `Storage` error it means; unknown errors pass through. */
export function mapS3Error(err: unknown, url: string, bucket: string, key?: string, credentials: CredentialSource = {}): unknown {
  const e = (err ?? {}) as SdkError;
  const name = e.name ?? "";
  const status = e.$metadata?.httpStatusCode;
  const options = { key, cause: err };
  if (name === "NoSuchKey" || (status === 404 && name === "NotFound")) {
    return new NotFoundError(url, key ?? "", { cause: err });
  }
  if (name === "NoSuchBucket") {
    return new StoreNotFoundError(url, `Bucket '${bucket}' does not exist at this endpoint`, {
      ...options,
      hint: `Create the bucket first (e.g. 'aws s3 mb s3://${bucket}'), or check the bucket name and the endpoint (AWS_ENDPOINT_URL_S3 or the remote's 'endpoint').`,
    });
  }
  if (name === "CredentialsProviderError") {
    return new AuthError(url, `No AWS credentials found for ${url}`, {
      ...options,
      hint: "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (see ~/.aws/credentials), or the remote's access_key_id and secret_access_key.",
    });
  }
  if (AUTH.has(name)) {
    return new AuthError(url, `S3 refused the credentials for ${url} (${name})`, { ...options, hint: credentialsHint(credentials) });
  }
  if (name === "AccessDenied" || name === "AllAccessDisabled" || status === 403) {
    return new PermissionError(url, `S3 denied access to ${key ? `'${key}' in ` : ""}${url} (${name || status})`, options);
  }
  if (TRANSIENT.has(name) || status === 429 || (status !== undefined && status >= 500)) {
    return new UnreachableError(url, `S3 at ${url} is unavailable or throttling (${name || status})`, options);
  }
  if (err instanceof BrokenTransferError) {
    return new UnreachableError(url, `Reading ${key ? `'${key}' from ` : ""}${url} failed: ${err.message}`, options);
  }
  const network = networkCode(e);
  if (network) return new UnreachableError(url, `Cannot reach S3 for ${url}: ${network}`, options);
  return err;
}
