/**
 * infra/docker/ensure-bucket.mjs, the production bootstrap, run as compose runs it (node, a fresh
 * process, settings from the environment) against a real S3-compatible server (the embedded store).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { type EmbeddedS3, startEmbeddedS3 } from '@stagedoor/fixtures/embedded-s3';
import { createS3Client } from '@stagedoor/fixtures/seed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INFRA_DIR } from './support/repo.js';

const SCRIPT = resolve(INFRA_DIR, 'docker/ensure-bucket.mjs');

let store: EmbeddedS3;
let directory: string;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'stagedoor-infra-s3-'));
  store = await startEmbeddedS3({ directory });
});

afterAll(async () => {
  await store?.stop();
  rmSync(directory, { recursive: true, force: true });
});

async function run(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  // Only what compose would pass: no inherited S3_* from the developer's shell.
  const base = { PATH: process.env.PATH ?? '', NODE_ENV: 'production' };
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [SCRIPT], {
      env: { ...base, ...env },
      cwd: INFRA_DIR,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const settings = (bucket: string) => ({
  S3_ENDPOINT: store.endpoint,
  S3_REGION: store.region,
  S3_BUCKET: bucket,
  S3_ACCESS_KEY_ID: store.accessKeyId,
  S3_SECRET_ACCESS_KEY: store.secretAccessKey,
  S3_FORCE_PATH_STYLE: 'true',
});

const client = () =>
  createS3Client({
    endpoint: store.endpoint,
    region: store.region,
    accessKeyId: store.accessKeyId,
    secretAccessKey: store.secretAccessKey,
    forcePathStyle: true,
  });

async function objectCount(bucket: string): Promise<number> {
  let count = 0;
  for await (const _ of client().listObjectsV2(bucket, '', true)) count++;
  return count;
}

describe('ensure-bucket.mjs (production bootstrap)', () => {
  it('creates the bucket in production, and only the bucket', async () => {
    const result = await run(settings('prod-media-a'));
    expect(result).toMatchObject({ code: 0 });
    expect(result.stdout).toContain('bucket prod-media-a: created');
    expect(await client().bucketExists('prod-media-a')).toBe(true);
    expect(await objectCount('prod-media-a')).toBe(0);
  });

  it('is idempotent: a second run finds the bucket and succeeds', async () => {
    await run(settings('prod-media-b'));
    const again = await run(settings('prod-media-b'));
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('bucket prod-media-b: already present');
  });

  it('refuses to run without credentials (no demo defaults), exit 78, creating nothing', async () => {
    const { S3_ACCESS_KEY_ID: _a, S3_SECRET_ACCESS_KEY: _s, ...rest } = settings('prod-media-c');
    const result = await run(rest);
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('S3_ACCESS_KEY_ID is required');
    expect(result.stderr).toContain('S3_SECRET_ACCESS_KEY is required');
    expect(await client().bucketExists('prod-media-c')).toBe(false);
  });

  it('fails (exit 1) when the store does not answer, so compose does not start media', async () => {
    const secret = 'never-logged-secret-value-0123456789';
    const result = await run({
      ...settings('prod-media-d'),
      S3_ENDPOINT: 'http://127.0.0.1:1',
      S3_SECRET_ACCESS_KEY: secret,
      SEED_WAIT_SECONDS: '0',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('bucket prod-media-d failed');
    expect(`${result.stdout}${result.stderr}`).not.toContain(secret);
  });
});
