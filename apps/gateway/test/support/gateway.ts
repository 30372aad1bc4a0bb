/**
 * Test fixtures for the gateway: configurations against the real Redis (DB 1, a random key prefix per
 * app) or process memory, sign-in helpers, and key cleanup.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_ADMIN, DEMO_LISTENER } from '@stagedoor/shared/demo';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { buildApp } from '../../src/app.js';
import { type GatewayConfig, loadGatewayConfig } from '../../src/config.js';

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/1';
export const SECRET_A = 'test-secret-a-0123456789abcdef0123456789abcdef';
export const SECRET_B = 'test-secret-b-0123456789abcdef0123456789abcdef';
export const SECRET_C = 'test-secret-c-0123456789abcdef0123456789abcdef';
export { DEMO_ADMIN, DEMO_LISTENER };

export type StoreKind = 'redis' | 'memory';
export const STORE_KINDS: StoreKind[] = ['redis', 'memory'];

const dataDir = mkdtempSync(join(tmpdir(), 'stagedoor-gw-test-'));

export function randomPrefix(): string {
  return `t${randomBytes(6).toString('hex')}:`;
}

/** Every Redis prefix a test file used is deleted when that file is done (modules are per file). */
const usedPrefixes = new Set<string>();
afterAll(async () => {
  if (usedPrefixes.size === 0) return;
  const redis = testRedis();
  try {
    for (const prefix of usedPrefixes) await deletePrefix(redis, prefix);
  } finally {
    redis.disconnect();
  }
});

export function testConfig(
  kind: StoreKind,
  env: Record<string, string> = {},
  prefix = randomPrefix(),
): GatewayConfig {
  if (kind === 'redis' && !env.REDIS_URL) usedPrefixes.add(prefix);
  return loadGatewayConfig({
    SESSION_SECRETS: SECRET_A,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    ...(kind === 'redis' ? { REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: prefix } : {}),
    ...env,
  });
}

export async function buildTestApp(config: GatewayConfig): Promise<FastifyInstance> {
  const app = await buildApp(config, { logger: false });
  await app.ready();
  return app;
}

/** A plain client on the test DB, for looking at (and cleaning up) what the gateway stored. */
export function testRedis(): Redis {
  return new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
}

export async function keysWithPrefix(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  const keys = await keysWithPrefix(redis, prefix);
  if (keys.length > 0) await redis.del(...keys);
}

export interface SignedIn {
  /** `name=value` for a Cookie header. */
  cookie: string;
  /** The cookie's raw (signed) value. */
  value: string;
  csrfToken: string;
  setCookie: string;
  response: LightMyRequestResponse;
}

export function sessionCookie(response: LightMyRequestResponse, name = 'sid'): string | undefined {
  const header = response.headers['set-cookie'];
  const all = Array.isArray(header) ? header : header === undefined ? [] : [header];
  return all.find((c) => c.startsWith(`${name}=`));
}

export async function login(
  app: FastifyInstance,
  email = DEMO_LISTENER.email,
  password = DEMO_LISTENER.password,
  headers: Record<string, string> = {},
): Promise<SignedIn> {
  const response = await app.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { email, password },
    headers,
  });
  if (response.statusCode !== 200) {
    throw new Error(`login failed: ${response.statusCode} ${response.body}`);
  }
  const setCookie = sessionCookie(response, cookieNameOf(app)) ?? '';
  const pair = setCookie.split(';')[0] ?? '';
  return {
    cookie: pair,
    value: decodeURIComponent(pair.slice(pair.indexOf('=') + 1)),
    csrfToken: response.json().csrfToken,
    setCookie,
    response,
  };
}

const cookieNames = new WeakMap<FastifyInstance, string>();
export function setCookieName(app: FastifyInstance, name: string): void {
  cookieNames.set(app, name);
}
function cookieNameOf(app: FastifyInstance): string {
  return cookieNames.get(app) ?? 'sid';
}

export function me(app: FastifyInstance, cookie: string): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'GET',
    url: '/auth/me',
    headers: { cookie },
  }) as Promise<LightMyRequestResponse>;
}
