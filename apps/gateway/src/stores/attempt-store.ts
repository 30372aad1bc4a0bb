/**
 * Counters of attempts (sign-ins, client authentications) in fixed windows that start at a counter's
 * first attempt. An attempt is taken from a counter before the secret is checked (`acquire`: compare
 * and count in one atomic step), so concurrent requests can never all pass a check that reads a count
 * none of them has raised yet. Keys are hashed before storage, so Redis holds no email addresses or IPs
 * in key names; each script call touches one key, so the counters spread over a Redis Cluster's slots.
 */
import { createHash } from 'node:crypto';
import type { RedisClient } from './redis-client.js';
import { RedisScript } from './redis-script.js';
import { storeCall } from './store-errors.js';

export interface AttemptStore {
  /**
   * Counts one attempt when the key's count is below `limit` and answers 0; at the limit counts nothing
   * and answers the milliseconds until the key's window ends (at least 1). The window starts at the
   * first attempt counted.
   */
  acquire(key: string, limit: number, windowMs: number): Promise<number>;
  /** Gives back one attempt that `acquire` counted (it succeeded, or was never checked). */
  release(key: string): Promise<void>;
  /** Forgets the key's count. */
  reset(key: string): Promise<void>;
}

export function attemptKeyDigest(key: string): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 32);
}

/** KEYS: counter. ARGV: limit, window ms. Returns 0 when counted, else the ms until the window ends. */
const ACQUIRE = new RedisScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then return ttl end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(ARGV[2])
end
n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`);

/** KEYS: counter. DECR keeps the window's TTL; a count that reaches 0 is the same as no key. */
const RELEASE = new RedisScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n <= 1 then redis.call('DEL', KEYS[1]) return 0 end
return redis.call('DECR', KEYS[1])
`);

export class RedisAttemptStore implements AttemptStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  key(key: string): string {
    return `${this.prefix}attempts:${attemptKeyDigest(key)}`;
  }

  async acquire(key: string, limit: number, windowMs: number): Promise<number> {
    return storeCall(async () => Number(await ACQUIRE.run(this.redis, [this.key(key)], [limit, windowMs])));
  }

  async release(key: string): Promise<void> {
    await storeCall(() => RELEASE.run(this.redis, [this.key(key)], []));
  }

  async reset(key: string): Promise<void> {
    await storeCall(() => this.redis.del(this.key(key)));
  }
}

/**
 * The same counters in process memory. Each method runs to completion without awaiting, so on one
 * event loop the compare-and-count of `acquire` is atomic just as the Redis script is.
 */
export class MemoryAttemptStore implements AttemptStore {
  private readonly counters = new Map<string, { count: number; resetAt: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async acquire(key: string, limit: number, windowMs: number): Promise<number> {
    const entry = this.live(key);
    if (entry && entry.count >= limit) return Math.max(1, entry.resetAt - this.now());
    if (entry) entry.count += 1;
    else {
      if (this.counters.size >= 100_000) this.prune();
      this.counters.set(attemptKeyDigest(key), { count: 1, resetAt: this.now() + windowMs });
    }
    return 0;
  }

  async release(key: string): Promise<void> {
    const entry = this.live(key);
    if (!entry) return;
    entry.count -= 1;
    if (entry.count <= 0) this.counters.delete(attemptKeyDigest(key));
  }

  async reset(key: string): Promise<void> {
    this.counters.delete(attemptKeyDigest(key));
  }

  private live(key: string): { count: number; resetAt: number } | undefined {
    const digest = attemptKeyDigest(key);
    const entry = this.counters.get(digest);
    if (entry && entry.resetAt <= this.now()) {
      this.counters.delete(digest);
      return undefined;
    }
    return entry;
  }

  private prune(): void {
    const now = this.now();
    for (const [k, v] of this.counters) if (v.resetAt <= now) this.counters.delete(k);
  }
}
