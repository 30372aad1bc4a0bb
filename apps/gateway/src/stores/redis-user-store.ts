/**
 * Users in Redis (P = REDIS_PREFIX):
 *
 *   P user:{u:<id>}        HASH    id, email, name, role, passwordHash, createdAt
 *   P user-email:<email>   STRING  <id>; SET NX is what makes emails unique
 *
 * The hash tag puts a user's record in the same Cluster slot as their sessions.
 */
import type { Redis } from 'ioredis';
import { RedisScript } from './redis-script.js';
import { storeCall } from './store-errors.js';
import { EmailTakenError, ROLES, type Role, type StoredUser, type UserStore } from './user-directory.js';

/** KEYS: user. ARGV: field, value, field, value…; only when the user exists. */
const UPDATE_EXISTING = new RedisScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
`);

export class RedisUserStore implements UserStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  userKey(id: string): string {
    return `${this.prefix}user:{u:${id}}`;
  }
  emailKey(email: string): string {
    return `${this.prefix}user-email:${email}`;
  }

  async findById(id: string): Promise<StoredUser | null> {
    return storeCall(async () => parseUser(await this.redis.hgetall(this.userKey(id))));
  }

  async findByEmail(email: string): Promise<StoredUser | null> {
    return storeCall(async () => {
      const id = await this.redis.get(this.emailKey(email));
      return id === null ? null : parseUser(await this.redis.hgetall(this.userKey(id)));
    });
  }

  async insert(user: StoredUser): Promise<void> {
    await storeCall(async () => {
      const claimed = await this.redis.set(this.emailKey(user.email), user.id, 'NX');
      if (claimed !== 'OK') throw new EmailTakenError(user.email);
      try {
        await this.redis.hset(this.userKey(user.id), {
          id: user.id,
          email: user.email,
          name: user.name,
          role: user.role,
          passwordHash: user.passwordHash,
          createdAt: String(user.createdAt),
        });
      } catch (error) {
        await this.redis.del(this.emailKey(user.email)).catch(() => undefined);
        throw error;
      }
    });
  }

  async update(
    id: string,
    fields: Partial<Pick<StoredUser, 'role' | 'name' | 'passwordHash'>>,
  ): Promise<boolean> {
    const args = Object.entries(fields).flatMap(([k, v]) => (v === undefined ? [] : [k, String(v)]));
    if (args.length === 0) return (await this.findById(id)) !== null;
    return storeCall(async () => (await UPDATE_EXISTING.run(this.redis, [this.userKey(id)], args)) === 1);
  }

  async close(): Promise<void> {}
}

function parseUser(hash: Record<string, string>): StoredUser | null {
  const { id, email, name, role, passwordHash, createdAt } = hash;
  if (!id || !email || name === undefined || !passwordHash || !ROLES.includes(role as Role)) return null;
  return { id, email, name, role: role as Role, passwordHash, createdAt: Number(createdAt ?? 0) };
}
