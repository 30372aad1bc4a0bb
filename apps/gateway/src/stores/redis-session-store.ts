/**
 * Sessions in Redis. Key layout (P = REDIS_PREFIX, default `sd:`; `{u:<userId>}` is a Redis Cluster hash
 * tag, so everything of one user lives in one slot):
 *
 *   P sess:{u:<userId>}:<hash>   STRING  the session record (JSON); PX = min(idle, absolute) remaining
 *   P sessidx:{u:<userId>}       ZSET    member <hash>, score = that session's expiry (epoch ms);
 *                                        PEXPIREAT = the latest member's expiry, so it expires with them
 *   P sid:<hash>                 STRING  <userId>: the pointer a cookie lookup starts from; PX = absolute
 *   P spub:<publicId>            STRING  "<userId> <hash>": resolves a public handle; PX = absolute
 *   P user:{u:<userId>}          STRING  the user (see redis-user-store.ts): read with the session by MGET
 *
 * `<hash>` is SHA-256 (base64url) of the cookie's secret; no key or value holds the secret itself.
 * A session and its index entry are written by one Lua script over keys of one slot (atomic, also on
 * Cluster). The two pointers are immutable once written and only ever lead to the session key, which is
 * the single source of truth: a pointer that outlives its session leads nowhere. Because a pointer never
 * changes, the hash → userId mapping is cached in process, so a request with a session costs one MGET
 * (session + user, same slot).
 * Logout-all deletes exactly the sessions it read from the index, in a script that first checks the
 * index still holds exactly those members (else it re-reads and retries): a login that added a session
 * before the script ran is seen, and one after it is a new sign-in, so none is missed.
 */
import type { RedisClient } from './redis-client.js';
import { RedisScript } from './redis-script.js';
import { parseUser, userKey } from './redis-user-store.js';
import { type SessionRecord, type SessionStore, sessionExpiresAt } from './session-store.js';
import { storeCall } from './store-errors.js';
import type { StoredUser } from './user-directory.js';

/** KEYS: session, index. ARGV: record, ttl ms, hash, expiresAt ms, now ms, mode ("create" | "touch"). */
const WRITE = new RedisScript(`
if ARGV[6] == 'touch' then
  if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'XX') then return 0 end
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[2], last[2]) end
return 1
`);

/** KEYS: session, index. ARGV: hash. */
const DESTROY = new RedisScript(`
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('ZCARD', KEYS[2]) == 0 then redis.call('DEL', KEYS[2]) end
return n
`);

/** KEYS: index, then the session keys the caller read from it. ARGV: their hashes (same order). */
const DESTROY_ALL = new RedisScript(`
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
if #members ~= #ARGV then return -1 end
local expected = {}
for i = 1, #ARGV do expected[ARGV[i]] = true end
for i = 1, #members do
  if not expected[members[i]] then return -1 end
end
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
redis.call('DEL', KEYS[1])
return #members
`);

const POINTER_CACHE_LIMIT = 10_000;

export class RedisSessionStore implements SessionStore {
  /** hash → userId. Safe to cache: a pointer never changes, and the session key is always checked. */
  private readonly pointerCache = new Map<string, string>();

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly idleMs: number,
  ) {}

  sessionKey(userId: string, hash: string): string {
    return `${this.prefix}sess:{u:${userId}}:${hash}`;
  }
  indexKey(userId: string): string {
    return `${this.prefix}sessidx:{u:${userId}}`;
  }
  pointerKey(hash: string): string {
    return `${this.prefix}sid:${hash}`;
  }
  publicKey(publicId: string): string {
    return `${this.prefix}spub:${publicId}`;
  }

  async create(hash: string, record: SessionRecord): Promise<void> {
    const now = Date.now();
    const absoluteTtl = Math.max(1, record.absoluteExpiresAt - now);
    await storeCall(async () => {
      await Promise.all([
        this.redis.set(this.pointerKey(hash), record.userId, 'PX', absoluteTtl),
        this.redis.set(this.publicKey(record.id), `${record.userId} ${hash}`, 'PX', absoluteTtl),
      ]);
      await this.write(hash, record, 'create', now);
    });
    this.cachePointer(hash, record.userId);
  }

  /** The user a session hash belongs to: the immutable pointer key, cached in process once read. */
  private async userIdOf(hash: string): Promise<string | null> {
    const cached = this.pointerCache.get(hash);
    if (cached !== undefined) return cached;
    const found = await this.redis.get(this.pointerKey(hash));
    if (found !== null) this.cachePointer(hash, found);
    return found;
  }

  async get(hash: string): Promise<SessionRecord | null> {
    return storeCall(async () => {
      const userId = await this.userIdOf(hash);
      if (userId === null) return null;
      return this.readRecord(await this.redis.get(this.sessionKey(userId, hash)));
    });
  }

  /**
   * The session and its user's stored JSON in one MGET (same hash tag, so one slot on a Cluster too):
   * with the pointer cached, a signed-in request costs one Redis command.
   */
  async getWithUser(hash: string): Promise<{ record: SessionRecord; user: StoredUser | null } | null> {
    return storeCall(async () => {
      const userId = await this.userIdOf(hash);
      if (userId === null) return null;
      const [rawSession, rawUser] = await this.redis.mget(
        this.sessionKey(userId, hash),
        userKey(this.prefix, userId),
      );
      const record = this.readRecord(rawSession ?? null);
      return record ? { record, user: parseUser(rawUser ?? null) } : null;
    });
  }

  async touch(hash: string, record: SessionRecord): Promise<boolean> {
    return storeCall(async () => (await this.write(hash, record, 'touch', Date.now())) === 1);
  }

  async destroy(hash: string, userId: string): Promise<string | null> {
    return storeCall(async () => {
      const record = this.readRecord(await this.redis.get(this.sessionKey(userId, hash)), true);
      await DESTROY.run(this.redis, [this.sessionKey(userId, hash), this.indexKey(userId)], [hash]);
      await this.dropPointers([hash], record ? [record.id] : []);
      return record?.id ?? null;
    });
  }

  async destroyAllForUser(userId: string): Promise<string[]> {
    return storeCall(async () => {
      const index = this.indexKey(userId);
      for (let attempt = 0; attempt < 20; attempt++) {
        const hashes = await this.redis.zrange(index, '0', '-1');
        if (hashes.length === 0) return [];
        const keys = hashes.map((h) => this.sessionKey(userId, h));
        const records = await this.redis.mget(...keys);
        const deleted = await DESTROY_ALL.run(this.redis, [index, ...keys], hashes);
        if (deleted === -1) continue;
        const publicIds = records.flatMap((raw) => {
          const r = this.readRecord(raw, true);
          return r ? [r.id] : [];
        });
        await this.dropPointers(hashes, publicIds);
        return publicIds;
      }
      throw new Error('logout-all kept racing with new sign-ins');
    });
  }

  async listForUser(userId: string): Promise<SessionRecord[]> {
    return storeCall(async () => {
      const hashes = await this.redis.zrangebyscore(this.indexKey(userId), `(${Date.now()}`, '+inf');
      if (hashes.length === 0) return [];
      const raws = await this.redis.mget(...hashes.map((h) => this.sessionKey(userId, h)));
      return raws
        .flatMap((raw) => {
          const record = this.readRecord(raw);
          return record ? [record] : [];
        })
        .sort((a, b) => a.createdAt - b.createdAt);
    });
  }

  async destroyByPublicId(userId: string, publicId: string): Promise<boolean> {
    return storeCall(async () => {
      const found = await this.resolvePublicId(publicId);
      if (!found || found.userId !== userId) return false;
      const n = await DESTROY.run(
        this.redis,
        [this.sessionKey(userId, found.hash), this.indexKey(userId)],
        [found.hash],
      );
      await this.dropPointers([found.hash], [publicId]);
      return n === 1;
    });
  }

  async isAlive(publicId: string): Promise<boolean> {
    return storeCall(async () => {
      const found = await this.resolvePublicId(publicId);
      if (!found) return false;
      const record = this.readRecord(await this.redis.get(this.sessionKey(found.userId, found.hash)));
      return record !== null && record.id === publicId;
    });
  }

  async close(): Promise<void> {
    this.pointerCache.clear();
  }

  private async resolvePublicId(publicId: string): Promise<{ userId: string; hash: string } | null> {
    const value = await this.redis.get(this.publicKey(publicId));
    if (value === null) return null;
    const [userId, hash] = value.split(' ');
    return userId && hash ? { userId, hash } : null;
  }

  private async write(
    hash: string,
    record: SessionRecord,
    mode: 'create' | 'touch',
    now: number,
  ): Promise<unknown> {
    const expiresAt = sessionExpiresAt(record, this.idleMs);
    const ttl = Math.max(1, expiresAt - now);
    return WRITE.run(
      this.redis,
      [this.sessionKey(record.userId, hash), this.indexKey(record.userId)],
      [JSON.stringify(record), ttl, hash, expiresAt, now, mode],
    );
  }

  private readRecord(raw: string | null, includeExpired = false): SessionRecord | null {
    if (raw === null) return null;
    let record: SessionRecord;
    try {
      record = JSON.parse(raw) as SessionRecord;
    } catch {
      return null;
    }
    if (!includeExpired && sessionExpiresAt(record, this.idleMs) <= Date.now()) return null;
    return record;
  }

  private async dropPointers(hashes: string[], publicIds: string[]): Promise<void> {
    for (const hash of hashes) this.pointerCache.delete(hash);
    // Different slots on a Cluster: one DEL per key. Best effort: a pointer leads nowhere anyway.
    await Promise.all([
      ...hashes.map((h) => this.redis.del(this.pointerKey(h))),
      ...publicIds.map((id) => this.redis.del(this.publicKey(id))),
    ]);
  }

  private cachePointer(hash: string, userId: string): void {
    if (this.pointerCache.size >= POINTER_CACHE_LIMIT) {
      const oldest = this.pointerCache.keys().next().value;
      if (oldest !== undefined) this.pointerCache.delete(oldest);
    }
    this.pointerCache.set(hash, userId);
  }
}
