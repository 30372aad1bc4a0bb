/**
 * A whole stagedoor on loopback for one test file: a real S3 (testkit: S3_ENDPOINT or the embedded
 * store), the gateway (`buildApp` + listen on 127.0.0.1:0, sessions in Redis DB 2 under a random prefix,
 * keys in a SIGNING_KEYS_FILE the test can rewrite), and media (`buildApp` + listen, JWKS_URL pointing at
 * the live gateway). Nothing is stubbed: every token is signed by the gateway and verified by media.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { buildApp as buildGateway } from '@stagedoor/gateway';
import { loadGatewayConfig } from '@stagedoor/gateway/config';
import { buildApp as buildMedia } from '@stagedoor/media';
import { loadMediaConfig } from '@stagedoor/media/config';
import { DEMO_LISTENER } from '@stagedoor/shared/demo';
import { startTestS3, type TestS3 } from '@stagedoor/testkit/s3';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';

export const TEST_REDIS_URL = process.env.TEST_INTEGRATION_REDIS_URL ?? 'redis://127.0.0.1:6379/2';
export const ISSUER = 'http://gateway.test:8080';
export const SESSION_SECRET = 'integration-secret-0123456789abcdef0123456789abcdef';

export interface StackOptions {
  /** The private JWK Set the gateway starts with (written to its SIGNING_KEYS_FILE). */
  signingKeys: { keys: object[] };
  gatewayEnv?: Record<string, string>;
  mediaEnv?: Record<string, string>;
  /** Media's clock (ms since the epoch), so a test can move it instead of waiting. */
  mediaNow?: () => number;
}

export interface Stack {
  s3: TestS3;
  gateway: FastifyInstance;
  gatewayUrl: string;
  media: FastifyInstance;
  mediaUrl: string;
  keysFile: string;
  redisPrefix: string;
  /** Rewrites the gateway's key file and reloads it (what SIGHUP does in production). */
  setSigningKeys(set: { keys: object[] }): Promise<void>;
  putObject(key: string, body: Uint8Array | string, contentType: string): Promise<void>;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Deletes every Redis key under `prefix` (a test's own). */
export async function deletePrefix(prefix: string): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-integration-'));
  const keysFile = join(dir, 'signing-keys.json');
  writeFileSync(keysFile, JSON.stringify(options.signingKeys), { mode: 0o600 });
  const redisPrefix = `it${randomBytes(6).toString('hex')}:`;
  const s3 = await startTestS3();
  const mediaPort = await freePort();
  const mediaUrl = `http://127.0.0.1:${mediaPort}`;

  const gateway = await buildGateway(
    loadGatewayConfig({
      LOG_LEVEL: 'silent',
      SESSION_SECRETS: SESSION_SECRET,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_PREFIX: redisPrefix,
      DATA_DIR: dir,
      SIGNING_KEYS_FILE: keysFile,
      GATEWAY_PUBLIC_URL: ISSUER,
      MEDIA_PUBLIC_URL: mediaUrl,
      MEDIA_INTERNAL_URL: mediaUrl,
      ...options.gatewayEnv,
    }),
    { logger: false },
  );
  const gatewayUrl = await gateway.listen({ host: '127.0.0.1', port: 0 });

  const media = await buildMedia(
    loadMediaConfig({
      LOG_LEVEL: 'silent',
      GATEWAY_PUBLIC_URL: ISSUER,
      JWKS_URL: `${gatewayUrl}/.well-known/jwks.json`,
      ...s3.env(),
      ...options.mediaEnv,
    }),
    { logger: false, now: options.mediaNow },
  );
  await media.listen({ host: '127.0.0.1', port: mediaPort });

  return {
    s3,
    gateway,
    gatewayUrl,
    media,
    mediaUrl,
    keysFile,
    redisPrefix,
    async setSigningKeys(set) {
      writeFileSync(keysFile, JSON.stringify(set), { mode: 0o600 });
      // (The gateway's `signingKeys` decoration is typed in its own sources, not in what it exports.)
      await (gateway as unknown as { signingKeys: { reload(): Promise<void> } }).signingKeys.reload();
    },
    async putObject(key, body, contentType) {
      await s3.client.send(
        new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body, ContentType: contentType }),
      );
    },
    async close() {
      await media.close();
      await gateway.close();
      await s3.stop();
      await deletePrefix(redisPrefix);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface BrowserSession {
  cookie: string;
  csrfToken: string;
  userId: string;
  sessionId: string;
}

/** Signs in over HTTP as a browser would (no Origin: a same-origin fetch from Node sends none). */
export async function signIn(
  gatewayUrl: string,
  email: string = DEMO_LISTENER.email,
  password: string = DEMO_LISTENER.password,
): Promise<BrowserSession> {
  const res = await fetch(`${gatewayUrl}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  if (res.status !== 200) throw new Error(`sign-in failed: ${res.status} ${await res.text()}`);
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const body = (await res.json()) as { csrfToken: string; user: { id: string } };
  const me = (await (await fetch(`${gatewayUrl}/auth/me`, { headers: { cookie } })).json()) as {
    session: { id: string };
  };
  return { cookie, csrfToken: body.csrfToken, userId: body.user.id, sessionId: me.session.id };
}

export async function mintToken(
  gatewayUrl: string,
  session: BrowserSession,
  body: { key: string } | { prefix: string },
): Promise<Response> {
  return fetch(`${gatewayUrl}/media/tokens`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      cookie: session.cookie,
      'x-csrf-token': session.csrfToken,
    },
    body: JSON.stringify(body),
  });
}

const formEncode = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');

export function basicAuth(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${formEncode(id)}:${formEncode(secret)}`).toString('base64')}`;
}

/** A service token from the live gateway's /oauth/token (Basic auth). */
export async function serviceToken(
  gatewayUrl: string,
  id: string,
  secret: string,
  scope?: string,
): Promise<string> {
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (scope !== undefined) form.set('scope', scope);
  const res = await fetch(`${gatewayUrl}/oauth/token`, {
    method: 'POST',
    headers: { authorization: basicAuth(id, secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: form,
  });
  if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}
