import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { Readable } from "node:stream";
import type { BackendSettings, OpenContext } from "../backend.js";
import { checkKey, checkRange } from "../keys.js";
import type { ByteRange, Storage, StorageEntry, StorageStat } from "../storage.js";
import { guardStream, readAll } from "../streams.js";
import { formatLocation, type StorageLocation } from "../url.js";
import { mapS3Error, type CredentialSource } from "./errors.js";
import { regionFromProfile } from "./profile.js";

type S3Location = Extract<StorageLocation, { type: "s3" }>;

// The SDK warns on stderr, once per process, that releases from 2027 need Node 22; we pin the
// SDK, and that warning must not leak into gage's output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

/** Parts of a multipart upload: 8 MiB, four in flight, so a put holds at most ~32 MiB. */
const PART_SIZE = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT = 4;

/**
 * An S3 bucket and prefix, on AWS or any S3-compatible store. S3 PUTs (and multipart uploads,
 * which appear only when completed) are atomic, so a put is a single request or upload. The
 * client makes one attempt per call: `withRetry` (applied by `openStorage`) owns the retry policy.
 */
export class S3Storage implements Storage {
  readonly url: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(
    location: S3Location,
    config: S3ClientConfig,
    private readonly verifyEtag = true,
    private readonly credentials: CredentialSource = {},
  ) {
    this.url = formatLocation(location);
    this.bucket = location.bucket;
    this.prefix = location.prefix;
    this.client = new S3Client(config);
  }

  private fail(err: unknown, key?: string): unknown {
    return mapS3Error(err, this.url, this.bucket, key, this.credentials);
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const Key = this.prefix + checkKey(key);
    checkRange(range);
    if (range !== undefined && range.end === range.start) {
      if ((await this.stat(key)) === undefined) throw this.fail({ name: "NoSuchKey" }, key);
      return Readable.from([]);
    }
    const Range = range === undefined ? undefined : `bytes=${range.start}-${range.end === undefined ? "" : range.end - 1}`;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key, Range }));
      // a whole single-part object can be checked against its ETag (its MD5): this catches a
      // reader racing a store that writes in place (s3rver) and damage in transit
      // (not for SSE-KMS or SSE-C objects, whose ETags are no MD5)
      const plainEtag = this.verifyEtag && !out.SSECustomerAlgorithm && !out.ServerSideEncryption?.startsWith("aws:kms");
      const md5 = range === undefined && plainEtag ? /^"?([0-9a-f]{32})"?$/.exec(out.ETag ?? "")?.[1] : undefined;
      return guardStream(out.Body as Readable, (err) => this.fail(err, key) as Error, {
        expectedBytes: out.ContentLength,
        // some stores ignore a range's end (s3rver reads `bytes=0-0` as `bytes=0-`)
        limitBytes: range?.end === undefined ? undefined : range.end - range.start,
        md5,
      });
    } catch (err) {
      // S3 refuses a range that starts at or past the end (even `bytes=0-` of an empty object):
      // the contract clamps it to nothing
      if ((err as { name?: string }).name === "InvalidRange" && (await this.stat(key)) !== undefined) {
        return Readable.from([]);
      }
      throw this.fail(err, key);
    }
  }

  async getBytes(key: string, range?: ByteRange): Promise<Buffer> {
    return readAll(await this.get(key, range));
  }

  async put(key: string, data: Buffer | Uint8Array | Readable): Promise<void> {
    const Key = this.prefix + checkKey(key);
    try {
      if (data instanceof Readable) {
        const upload = new Upload({
          client: this.client,
          params: { Bucket: this.bucket, Key, Body: data },
          partSize: PART_SIZE,
          queueSize: PARTS_IN_FLIGHT,
          leavePartsOnError: false,
        });
        await upload.done();
      } else {
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: data, ContentLength: data.byteLength }));
      }
    } catch (err) {
      if (data instanceof Readable) data.destroy();
      throw this.fail(err, key);
    }
  }

  async stat(key: string): Promise<StorageStat | undefined> {
    const Key = this.prefix + checkKey(key);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
      return { size: out.ContentLength ?? 0, mtimeMs: out.LastModified?.getTime() };
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404 || (err as { name?: string }).name === "NotFound") return undefined;
      throw this.fail(err, key);
    }
  }

  async *list(prefix: string, options: { startAfter?: string } = {}): AsyncIterable<StorageEntry> {
    let ContinuationToken: string | undefined;
    const StartAfter = options.startAfter === undefined ? undefined : this.prefix + options.startAfter;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, StartAfter, ContinuationToken }),
        );
      } catch (err) {
        throw this.fail(err);
      }
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield { key: object.Key.slice(this.prefix.length), size: object.Size ?? 0 };
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken !== undefined);
  }

  async delete(key: string): Promise<void> {
    const Key = this.prefix + checkKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
    } catch (err) {
      throw this.fail(err, key);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

/** The S3 client configuration for a location: settings first, then `ctx.env`, then the AWS chain. */
export async function s3ClientConfig(settings: BackendSettings, ctx: OpenContext): Promise<S3ClientConfig> {
  const env = ctx.env;
  const endpoint = (settings.endpoint as string | undefined) ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  const profile = (settings.profile as string | undefined) ?? env.AWS_PROFILE;
  const region =
    (settings.region as string | undefined) ??
    env.AWS_REGION ??
    env.AWS_DEFAULT_REGION ??
    (await regionFromProfile(profile ?? "default", env.AWS_CONFIG_FILE ?? `${ctx.home}/.aws/config`)) ??
    "us-east-1";
  const accessKeyId = (settings.access_key_id as string | undefined) ?? (profile ? undefined : env.AWS_ACCESS_KEY_ID);
  const secretAccessKey =
    (settings.secret_access_key as string | undefined) ?? (profile ? undefined : env.AWS_SECRET_ACCESS_KEY);
  const sessionToken = (settings.session_token as string | undefined) ?? (profile ? undefined : env.AWS_SESSION_TOKEN);
  return {
    region,
    endpoint,
    forcePathStyle: (settings.path_style as boolean | undefined) ?? endpoint !== undefined,
    profile,
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey, sessionToken } : undefined,
    maxAttempts: 1,
    // S3-compatible stores (s3rver, older MinIO and Ceph) reject the aws-chunked bodies that
    // default checksums bring
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    // a dead server fails fast; a hung one within a minute
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000 },
  };
}

export async function openS3Storage(location: S3Location, settings: BackendSettings, ctx: OpenContext): Promise<Storage> {
  const kind = settings.access_key_id !== undefined || settings.secret_access_key !== undefined ? "keys" : settings.profile !== undefined ? "profile" : undefined;
  const credentials: CredentialSource = ctx.origin !== undefined && kind !== undefined ? { origin: ctx.origin, kind } : {};
  return new S3Storage(location, await s3ClientConfig(settings, ctx), (settings.verify_etag as boolean | undefined) ?? true, credentials);
}
