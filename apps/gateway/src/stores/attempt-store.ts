/**
 * Counters of failed attempts (sign-ins, client authentications) in fixed windows. A key is blocked once
 * its count reaches its limit, until its window ends. Keys are hashed before storage, so Redis holds no
 * email addresses or IPs in key names.
 */
import { createHash } from 'node:crypto';
import type { RedisClient } from './redis-client.js';
import { RedisScript } from './redis-script.js';
import { storeCall } from './store-errors.js';

export interface AttemptStore {
  /** Milliseconds until the key may try again (0 when count < limit). */
  blockedFor(key: string, limit: number): Promise<number>;
  /** Counts one failure; the window starts at the first failure. */
  increment(key: string, windowMs: number): Promise<void>;
  reset(key: string): Promise<void>;
}

export function attemptKeyDigest(key: string): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 32);
}

/** KEYS: counter. ARGV: window ms. */
const INCREMENT = new RedisScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`);

/** KEYS: counter. ARGV: limit. */
const BLOCKED_FOR = new RedisScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n < tonumber(ARGV[1]) then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 1 then return 1 end
return ttl
`);

export class RedisAttemptStore implements AttemptStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  key(key: string): string {
    return `${this.prefix}attempts:${attemptKeyDigest(key)}`;
  }

  async blockedFor(key: string, limit: number): Promise<number> {
    return storeCall(async () => Number(await BLOCKED_FOR.run(this.redis, [this.key(key)], [limit])));
  }

  async increment(key: string, windowMs: number): Promise<void> {
    await storeCall(() => INCREMENT.run(this.redis, [this.key(key)], [windowMs]));
  }

  async reset(key: string): Promise<void> {
    await storeCall(() => this.redis.del(this.key(key)));
  }
}

export class MemoryAttemptStore implements AttemptStore {
  private readonly counters = new Map<string, { count: number; resetAt: number }>();

  async blockedFor(key: string, limit: number): Promise<number> {
    const entry = this.live(key);
    return entry && entry.count >= limit ? Math.max(1, entry.resetAt - Date.now()) : 0;
  }

  async increment(key: string, windowMs: number): Promise<void> {
    const entry = this.live(key);
    if (entry) entry.count += 1;
    else this.counters.set(attemptKeyDigest(key), { count: 1, resetAt: Date.now() + windowMs });
    if (this.counters.size > 100_000) this.prune();
  }

  async reset(key: string): Promise<void> {
    this.counters.delete(attemptKeyDigest(key));
  }

  private live(key: string): { count: number; resetAt: number } | undefined {
    const digest = attemptKeyDigest(key);
    const entry = this.counters.get(digest);
    if (entry && entry.resetAt <= Date.now()) {
      this.counters.delete(digest);
      return undefined;
    }
    return entry;
  }

  private prune(): void {
    const now = Date.now();
    for (const [k, v] of this.counters) if (v.resetAt <= now) this.counters.delete(k);
  }
}
