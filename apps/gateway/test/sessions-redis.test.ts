/**
 * Session properties that are about what Redis holds: criteria 1 (only a hash of the cookie's secret),
 * 3 (idle + absolute expiry, TTL, no writes on reads, touch interval) and 5 (per-user index, atomic,
 * expiring with the sessions, logout-all vs a concurrent login, Cluster hash tags).
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { hashSessionSecret } from '../src/plugins/sessions.js';
import {
  buildTestApp,
  DEMO_LISTENER,
  deletePrefix,
  keysWithPrefix,
  login,
  me,
  randomPrefix,
  testConfig,
  testRedis,
} from './support/gateway.js';

const IDLE = 600;
const MAX = 3600;

/** Redis Cluster's key slot rule: only the part inside the first non-empty {…} is hashed. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open + 1);
  return open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key;
}

describe('sessions in Redis', () => {
  const prefix = randomPrefix();
  let app: FastifyInstance;
  let redis: Redis;
  beforeAll(async () => {
    redis = testRedis();
    app = await buildTestApp(
      testConfig(
        'redis',
        { SESSION_IDLE_SECONDS: String(IDLE), SESSION_MAX_SECONDS: String(MAX), SESSION_TOUCH_SECONDS: '60' },
        prefix,
      ),
    );
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    await app.close();
    await deletePrefix(redis, prefix);
    redis.disconnect();
  });

  async function sessionKeyOf(secretCookieValue: string): Promise<string> {
    const secret = secretCookieValue.slice(0, secretCookieValue.lastIndexOf('.'));
    const userId = await redis.get(`${prefix}sid:${hashSessionSecret(secret)}`);
    expect(userId).toBe(DEMO_LISTENER.id);
    return `${prefix}sess:{u:${userId}}:${hashSessionSecret(secret)}`;
  }

  it('criterion 1: no Redis key or value contains the cookie secret (or its signed form)', async () => {
    const s = await login(app);
    await me(app, s.cookie);
    const secret = s.value.slice(0, s.value.lastIndexOf('.'));
    expect(secret.length).toBeGreaterThanOrEqual(22);
    const keys = await keysWithPrefix(redis, prefix);
    expect(keys.length).toBeGreaterThan(3);
    for (const key of keys) {
      expect(key).not.toContain(secret);
      const type = await redis.type(key);
      const dump =
        type === 'string'
          ? String(await redis.get(key))
          : type === 'hash'
            ? JSON.stringify(await redis.hgetall(key))
            : type === 'zset'
              ? JSON.stringify(await redis.zrange(key, '0', '-1', 'WITHSCORES'))
              : '';
      expect(dump).not.toContain(secret);
    }
    // What the store does hold is SHA-256 of the secret.
    expect(await redis.exists(await sessionKeyOf(s.value))).toBe(1);
  });

  it('criterion 1: a copy of the store cannot be turned into a working cookie', async () => {
    const s = await login(app);
    const key = await sessionKeyOf(s.value);
    const hash = key.slice(key.lastIndexOf(':') + 1);
    const record = JSON.parse(String(await redis.get(key)));
    for (const candidate of [hash, record.id, `${hash}.x`, record.csrfToken]) {
      expect((await me(app, `sid=${encodeURIComponent(candidate)}`)).statusCode).toBe(401);
    }
  });

  it('criterion 3: the Redis TTL is the idle timeout when that ends first', async () => {
    const s = await login(app);
    const ttl = await redis.pttl(await sessionKeyOf(s.value));
    expect(ttl).toBeGreaterThan((IDLE - 5) * 1000);
    expect(ttl).toBeLessThanOrEqual(IDLE * 1000);
  });

  it('criterion 3: a read-only request does not rewrite the session within the touch interval', async () => {
    const s = await login(app);
    const key = await sessionKeyOf(s.value);
    const before = await redis.get(key);
    const ttlBefore = await redis.pttl(key);
    await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 3; i++) expect((await me(app, s.cookie)).statusCode).toBe(200);
    await app.inject({ method: 'GET', url: '/auth/sessions', headers: { cookie: s.cookie } });
    expect(await redis.get(key)).toBe(before);
    // No write means no TTL refresh either: it only went down.
    expect(await redis.pttl(key)).toBeLessThan(ttlBefore);
  });

  it('criterion 3: after the touch interval, one request writes lastSeenAt and extends the idle TTL', async () => {
    const s = await login(app);
    const key = await sessionKeyOf(s.value);
    const created = JSON.parse(String(await redis.get(key)));
    const realNow = Date.now.bind(Date);
    const shift = 61_000;
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + shift);
    const res = await me(app, s.cookie);
    expect(res.statusCode).toBe(200);
    const touched = JSON.parse(String(await redis.get(key)));
    expect(touched.lastSeenAt).toBeGreaterThanOrEqual(created.lastSeenAt + shift);
    expect(new Date(res.json().session.lastSeenAt).getTime()).toBe(touched.lastSeenAt);
    // TTL = idle measured from the (shifted) lastSeenAt: about IDLE s again.
    expect(await redis.pttl(key)).toBeGreaterThan((IDLE - 5) * 1000);
    const index = await redis.zscore(
      `${prefix}sessidx:{u:${DEMO_LISTENER.id}}`,
      key.slice(key.lastIndexOf(':') + 1),
    );
    expect(Number(index)).toBe(touched.lastSeenAt + IDLE * 1000);
    // And the next request inside the interval writes nothing.
    const after = await redis.get(key);
    await me(app, s.cookie);
    expect(await redis.get(key)).toBe(after);
  });

  it('criterion 3: the server enforces the idle timeout even while the key still exists', async () => {
    const s = await login(app);
    const key = await sessionKeyOf(s.value);
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + (IDLE + 1) * 1000);
    expect(await redis.exists(key)).toBe(1);
    expect((await me(app, s.cookie)).statusCode).toBe(401);
  });

  it('criterion 3: the absolute lifetime ends a session that was active all along; TTL follows it', async () => {
    const s = await login(app);
    const key = await sessionKeyOf(s.value);
    const realNow = Date.now.bind(Date);
    // Stay active: a request every (IDLE - 60) s keeps the idle timeout from ever ending the session.
    let shift = 0;
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + shift);
    while (shift + (IDLE - 60) * 1000 < (MAX - 30) * 1000) {
      shift += (IDLE - 60) * 1000;
      expect((await me(app, s.cookie)).statusCode).toBe(200);
    }
    // Near the end, the absolute deadline is closer than the idle one: TTL = absolute remaining.
    const record = JSON.parse(String(await redis.get(key)));
    const ttl = await redis.pttl(key);
    const absRemaining = record.absoluteExpiresAt - (realNow() + shift);
    expect(absRemaining).toBeLessThan(IDLE * 1000);
    expect(Math.abs(ttl - absRemaining)).toBeLessThan(5_000);
    shift = MAX * 1000 + 1000;
    expect((await me(app, s.cookie)).statusCode).toBe(401);
  });

  it('criterion 5: the per-user index holds the session, expires with it, shares its Cluster slot', async () => {
    const s = await login(app);
    const key = await sessionKeyOf(s.value);
    const index = `${prefix}sessidx:{u:${DEMO_LISTENER.id}}`;
    const hash = key.slice(key.lastIndexOf(':') + 1);
    expect(await redis.zscore(index, hash)).not.toBeNull();
    expect(hashTag(index)).toBe(hashTag(key));
    expect(hashTag(`${prefix}user:{u:${DEMO_LISTENER.id}}`)).toBe(hashTag(key));
    // The index expires when its longest-lived session does, never before.
    const members = await redis.zrange(index, '0', '-1', 'WITHSCORES');
    const latest = Math.max(...members.filter((_, i) => i % 2 === 1).map(Number));
    const indexExpireAt = await redis.pexpiretime(index);
    expect(indexExpireAt).toBe(latest);
    expect(await redis.pttl(index)).toBeGreaterThanOrEqual(await redis.pttl(key));
  });

  it('criterion 5: logout-all misses no session created concurrently with it', async () => {
    for (let round = 0; round < 5; round++) {
      const first = await login(app);
      const logins = Array.from({ length: 6 }, () => login(app).catch(() => null));
      const logoutAll = app.inject({
        method: 'POST',
        url: '/auth/logout-all',
        headers: { cookie: first.cookie, 'x-csrf-token': first.csrfToken },
      });
      const [res, ...sessions] = await Promise.all([logoutAll, ...logins]);
      expect(res.statusCode).toBe(204);
      // Sessions that logout-all did not delete must have been created after it: a second logout-all
      // from any survivor leaves nothing behind, and every survivor is in the index (none orphaned).
      const listed = await app.sessionStore.listForUser(DEMO_LISTENER.id);
      const alive: string[] = [];
      for (const s of sessions) {
        if (s && (await me(app, s.cookie)).statusCode === 200) alive.push(s.cookie);
      }
      expect(listed.length).toBe(alive.length);
      await app.sessionStore.destroyAllForUser(DEMO_LISTENER.id, 'admin');
      for (const cookie of alive) expect((await me(app, cookie)).statusCode).toBe(401);
    }
  });

  it('criterion 5: a destroyed session stays destroyed even if a touch was in flight', async () => {
    const s = await login(app);
    const key = await sessionKeyOf(s.value);
    const hash = key.slice(key.lastIndexOf(':') + 1);
    const record = JSON.parse(String(await redis.get(key)));
    await app.sessionStore.destroyAllForUser(DEMO_LISTENER.id, 'admin');
    expect(await app.sessionStore.touch(hash, { ...record, lastSeenAt: Date.now() })).toBe(false);
    expect(await redis.exists(key)).toBe(0);
    expect(await redis.exists(`${prefix}sessidx:{u:${DEMO_LISTENER.id}}`)).toBe(0);
  });
});
