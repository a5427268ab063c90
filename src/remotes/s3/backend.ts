import type { StorageBackend } from "../backend.js";

export const s3Backend: StorageBackend<"s3"> = {
  type: "s3",
  summary: "Amazon S3 or an S3-compatible store (MinIO, Ceph, R2, s3rver): s3://BUCKET/PREFIX",
  options: [
    { name: "url", help: "s3://BUCKET/PREFIX", type: "string" },
    {
      name: "endpoint",
      help: "Endpoint of an S3-compatible store; default AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, then AWS",
      type: "string",
    },
    { name: "region", help: "Region; default from the AWS chain (AWS_REGION, the profile), else us-east-1", type: "string" },
    { name: "path_style", help: "Path-style addressing; default on with a custom endpoint", type: "boolean" },
    { name: "profile", help: "Profile in ~/.aws/config and ~/.aws/credentials; default AWS_PROFILE", type: "string" },
    { name: "access_key_id", help: "Access key id; default from the AWS chain", type: "string" },
    { name: "secret_access_key", help: "Secret access key; default from the AWS chain", type: "string", secret: true },
    { name: "session_token", help: "Session token for temporary credentials", type: "string", secret: true },
    {
      name: "verify_etag",
      help: "Check whole-object reads against their ETag (MD5); turn off for stores whose ETags are not MD5s",
      type: "boolean",
      default: true,
    },
  ],
  defaultConcurrency: 32,
  async open(location, settings, ctx) {
    const { openS3Storage } = await import("./storage.js");
    return openS3Storage(location, settings, ctx);
  },
};
