/**
 * The attempt counters on their own (Redis and memory): acquire counts only below the limit and answers
 * the wait at it; release and reset; a window ends; and the limiter gives back what it took when the
 * check itself fails (a store down), so an outage is not counted as guesses.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAttemptLimiter } from '../src/plugins/attempt-limiter.js';
import { type AttemptStore, MemoryAttemptStore, RedisAttemptStore } from '../src/stores/attempt-store.js';
import { deletePrefix, randomPrefix, testRedis } from './support/gateway.js';

const WINDOW_MS = 60_000;

describe.each(['memory', 'redis'] as const)('attempt store (%s)', (kind) => {
  const prefix = randomPrefix();
  let redis: Redis;
  let store: AttemptStore;
  beforeAll(() => {
    redis = testRedis();
    store = kind === 'redis' ? new RedisAttemptStore(redis, prefix) : new MemoryAttemptStore();
  });
  afterAll(async () => {
    await deletePrefix(redis, prefix);
    redis.disconnect();
  });

  it('counts up to the limit, then answers the time left in the window without counting', async () => {
    for (let i = 0; i < 3; i++) expect(await store.acquire('k1', 3, WINDOW_MS)).toBe(0);
    const wait = await store.acquire('k1', 3, WINDOW_MS);
    expect(wait).toBeGreaterThan(WINDOW_MS - 5_000);
    expect(wait).toBeLessThanOrEqual(WINDOW_MS);
    // A refusal does not count: one release makes room for exactly one more.
    await store.release('k1');
    expect(await store.acquire('k1', 3, WINDOW_MS)).toBe(0);
    expect(await store.acquire('k1', 3, WINDOW_MS)).toBeGreaterThan(0);
    await store.reset('k1');
    expect(await store.acquire('k1', 3, WINDOW_MS)).toBe(0);
  });

  it('a release below one count leaves nothing behind, and never goes negative', async () => {
    await store.release('k2');
    expect(await store.acquire('k2', 1, WINDOW_MS)).toBe(0);
    await store.release('k2');
    await store.release('k2');
    expect(await store.acquire('k2', 1, WINDOW_MS)).toBe(0);
    expect(await store.acquire('k2', 1, WINDOW_MS)).toBeGreaterThan(0);
  });

  it('the limiter gives back every count when the check throws', async () => {
    const limiter = createAttemptLimiter(store, {
      perAccountAndIp: 1,
      perIp: 1,
      perAccount: 1,
      windowSeconds: 60,
    });
    const down = () => Promise.reject(new Error('store down'));
    await expect(limiter.attempt('login', 'outage@example.com', '10.9.9.9', down)).rejects.toThrow(
      'store down',
    );
    const wrong = await limiter.attempt('login', 'outage@example.com', '10.9.9.9', async () => ({
      ok: false,
    }));
    expect(wrong.outcome).toBe('invalid_credentials');
    const limited = await limiter.attempt('login', 'outage@example.com', '10.9.9.9', async () => ({
      ok: true,
    }));
    expect(limited).toMatchObject({ outcome: 'rate_limited', counter: 'account_and_ip' });
  });
});

describe('memory attempt store with an injected clock', () => {
  it('a window ends WINDOW_MS after its first attempt', async () => {
    let now = 1_000_000;
    const store = new MemoryAttemptStore(() => now);
    expect(await store.acquire('k', 1, WINDOW_MS)).toBe(0);
    now += 10_000;
    expect(await store.acquire('k', 1, WINDOW_MS)).toBe(WINDOW_MS - 10_000);
    now += WINDOW_MS - 10_000;
    expect(await store.acquire('k', 1, WINDOW_MS)).toBe(0);
  });
});
