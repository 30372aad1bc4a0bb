/** What every media test file needs: a real S3 bucket, real signing keys served as a JWKS, and the app. */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { MediaGrant } from '@stagedoor/shared/tokens';
import { mintMediaToken, mintServiceToken } from '@stagedoor/shared/tokens/mint';
import { type JwksServer, startJwksServer } from '@stagedoor/testkit/jwks-server';
import { generateTestKey, type TestKey } from '@stagedoor/testkit/keys';
import { type TestS3, useS3 } from '@stagedoor/testkit/s3';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { afterAll, beforeAll } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadMediaConfig } from '../src/config.js';

export const ISSUER = 'http://localhost:8080';
export const ALLOWED_ORIGIN = 'http://player.example';

export interface MediaHarness {
  app: FastifyInstance;
  s3: TestS3;
  key: TestKey;
  jwks: JwksServer;
  env: Record<string, string>;
  mediaToken(
    grant: MediaGrant | string,
    options?: { ttlSeconds?: number; issuedAt?: number },
  ): Promise<string>;
  serviceToken(scope: string, options?: { ttlSeconds?: number }): Promise<string>;
  putObject(key: string, body: string | Buffer, contentType?: string): Promise<void>;
}

export function grantOf(grant: MediaGrant | string): MediaGrant {
  if (typeof grant !== 'string') return grant;
  return grant.endsWith('/') ? { kind: 'prefix', prefix: grant } : { kind: 'key', key: grant };
}

export function useMedia(
  options: {
    env?: Record<string, string>;
    loggerInstance?: FastifyServerOptions['loggerInstance'];
    /** The app's clock (BuildOptions.now). */
    now?: () => number;
    /** Serve Prometheus metrics on a free loopback port (`app.metrics.port()` once ready). */
    metrics?: boolean;
  } = {},
): MediaHarness {
  const s3 = useS3();
  const harness = { s3 } as MediaHarness;
  beforeAll(async () => {
    harness.key = await generateTestKey('test-key-1');
    harness.jwks = await startJwksServer([harness.key.publicJwk]);
    harness.env = {
      ...s3.env(),
      JWKS_URL: harness.jwks.url,
      GATEWAY_PUBLIC_URL: ISSUER,
      CORS_ORIGINS: ALLOWED_ORIGIN,
      // No gateway here: the feed is tested by revocation-feed.test.ts and tests/integration.
      REVOCATION_FEED_URL: 'off',
      ...options.env,
    };
    const config = loadMediaConfig(harness.env);
    if (options.metrics) config.metrics = { host: '127.0.0.1', port: 0 };
    harness.app = await buildApp(config, {
      ...(options.loggerInstance ? { loggerInstance: options.loggerInstance } : { logger: false }),
      now: options.now,
    });
    harness.mediaToken = async (grant, o = {}) =>
      (
        await mintMediaToken({
          key: harness.key,
          issuer: ISSUER,
          subject: 'user-1',
          sid: 'session-1',
          grant: grantOf(grant),
          ttlSeconds: o.ttlSeconds ?? 300,
          issuedAt: o.issuedAt,
        })
      ).token;
    harness.serviceToken = async (scope, o = {}) =>
      (
        await mintServiceToken({
          key: harness.key,
          issuer: ISSUER,
          clientId: 'test-client',
          scope,
          ttlSeconds: o.ttlSeconds ?? 300,
        })
      ).token;
    harness.putObject = async (key, body, contentType = 'audio/wav') => {
      await s3.client.send(
        new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body, ContentType: contentType }),
      );
    };
  });
  afterAll(async () => {
    await harness.app?.close();
    await harness.jwks?.close();
  });
  return harness;
}

/** Deterministic bytes, so any misplaced byte in a range shows. */
export function patternBytes(size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) buf[i] = (i * 31 + (i >> 8)) & 0xff;
  return buf;
}
