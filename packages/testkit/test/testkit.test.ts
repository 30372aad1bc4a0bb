import { GetObjectCommand, HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { importJWK, jwtVerify, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { startJwksServer } from '../src/jwks-server.js';
import { generateTestKey, jwksOf } from '../src/keys.js';
import { useS3 } from '../src/s3.js';

describe('useS3', () => {
  const s3 = useS3();
  it('gives this file its own bucket on a real S3 server', async () => {
    await s3.client.send(new HeadBucketCommand({ Bucket: s3.bucket }));
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'a/b.txt', Body: 'hello' }));
    const res = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: 'a/b.txt' }));
    expect(await res.Body?.transformToString()).toBe('hello');
    expect(s3.env().S3_BUCKET).toBe(s3.bucket);
  });
});

describe('keys and JWKS server', () => {
  it('serves public keys that verify what the private key signed', async () => {
    const key = await generateTestKey('k1');
    expect(key.publicJwk).not.toHaveProperty('d');
    const server = await startJwksServer(jwksOf([key]).keys);
    try {
      const jwks = (await (await fetch(server.url)).json()) as { keys: Record<string, unknown>[] };
      expect(jwks.keys[0]?.kid).toBe('k1');
      const token = await new SignJWT({}).setProtectedHeader({ alg: 'EdDSA' }).sign(key.privateKey);
      await jwtVerify(token, await importJWK(jwks.keys[0] as never, 'EdDSA'));
      server.setFailing(true);
      expect((await fetch(server.url)).status).toBe(503);
      expect(server.fetches).toBe(2);
    } finally {
      await server.close();
    }
  });
});
