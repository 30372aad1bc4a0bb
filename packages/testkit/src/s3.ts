/**
 * A real S3 server for a test file: the one named by `S3_ENDPOINT` (Ceph RGW, MinIO) when it is set,
 * otherwise the embedded store (s3rver in its own process on a free loopback port). Each file gets its own
 * bucket, emptied and deleted afterwards, so suites can share one external server.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { type EmbeddedS3, startEmbeddedS3 } from '@stagedoor/fixtures/embedded-s3';
import { afterAll, beforeAll } from 'vitest';

export interface TestS3 {
  /** `external` when S3_ENDPOINT named the server, `embedded` for s3rver. */
  kind: 'external' | 'embedded';
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** A bucket created for this file only. */
  bucket: string;
  client: S3Client;
  /** The S3_* variables an app's config loader needs to use this server and bucket. */
  env(): Record<string, string>;
  /** Lists multipart uploads still open in the bucket, or `null` when the server cannot (s3rver: 501). */
  openMultipartUploads(): Promise<string[] | null>;
  stop(): Promise<void>;
}

export function newTestBucketName(prefix = 'sd-test'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

export async function startTestS3(options: { bucket?: string } = {}): Promise<TestS3> {
  const external = process.env.S3_ENDPOINT?.trim();
  let embedded: EmbeddedS3 | undefined;
  let dir: string | undefined;
  let endpoint: string;
  let accessKeyId: string;
  let secretAccessKey: string;
  let region = process.env.S3_REGION?.trim() || 'us-east-1';
  if (external) {
    endpoint = external;
    accessKeyId = process.env.S3_ACCESS_KEY_ID ?? '';
    secretAccessKey = process.env.S3_SECRET_ACCESS_KEY ?? '';
  } else {
    dir = mkdtempSync(join(tmpdir(), 'sd-testkit-s3-'));
    embedded = await startEmbeddedS3({ directory: dir });
    endpoint = embedded.endpoint;
    accessKeyId = embedded.accessKeyId;
    secretAccessKey = embedded.secretAccessKey;
    region = embedded.region;
  }
  const bucket = options.bucket ?? newTestBucketName();
  const client = new S3Client({
    endpoint,
    region,
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));

  const openMultipartUploads = async (): Promise<string[] | null> => {
    try {
      const res = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      return (res.Uploads ?? []).map((u) => `${u.Key ?? ''}#${u.UploadId ?? ''}`);
    } catch (error) {
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 501)
        return null;
      throw error;
    }
  };

  const emptyBucket = async () => {
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
      if (keys.length > 0) {
        await client.send(
          new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }),
        );
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    const uploads = await openMultipartUploads();
    for (const entry of uploads ?? []) {
      const [Key, UploadId] = entry.split('#');
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId }));
    }
  };

  return {
    kind: external ? 'external' : 'embedded',
    endpoint,
    region,
    accessKeyId,
    secretAccessKey,
    bucket,
    client,
    env: () => ({
      S3_ENDPOINT: endpoint,
      S3_REGION: region,
      S3_BUCKET: bucket,
      S3_ACCESS_KEY_ID: accessKeyId,
      S3_SECRET_ACCESS_KEY: secretAccessKey,
      S3_FORCE_PATH_STYLE: 'true',
    }),
    openMultipartUploads,
    stop: async () => {
      try {
        await emptyBucket();
        await client.send(new DeleteBucketCommand({ Bucket: bucket }));
      } finally {
        client.destroy();
        await embedded?.stop();
        if (dir) rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Registers `beforeAll`/`afterAll` hooks that start a test S3 (and a bucket) for the calling file and
 * clean it up. The returned object is filled in by `beforeAll`; read its fields inside tests and hooks.
 */
export function useS3(options: { bucket?: string } = {}): TestS3 {
  const handle = {} as TestS3;
  beforeAll(async () => {
    Object.assign(handle, await startTestS3(options));
  });
  afterAll(async () => {
    await handle.stop?.();
  });
  return handle;
}
