/**
 * Users in Redis (P = REDIS_PREFIX):
 *
 *   P user:{u:<id>}        STRING  the user as JSON: id, email, name, role, passwordHash, createdAt
 *   P user-email:<email>   STRING  <id>; SET NX is what makes emails unique
 *
 * The hash tag puts a user's record in the same Cluster slot as their sessions, and storing it as a
 * string lets one MGET read a session and its user together (`RedisSessionStore.getWithUser`).
 */
import type { RedisClient } from './redis-client.js';
import { RedisScript } from './redis-script.js';
import { storeCall } from './store-errors.js';
import { EmailTakenError, ROLES, type Role, type StoredUser, type UserStore } from './user-directory.js';

/** KEYS: user. ARGV: a JSON object of fields to change; only when the user exists. */
const UPDATE_EXISTING = new RedisScript(`
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local user = cjson.decode(raw)
for k, v in pairs(cjson.decode(ARGV[1])) do user[k] = v end
redis.call('SET', KEYS[1], cjson.encode(user))
return 1
`);

export function userKey(prefix: string, id: string): string {
  return `${prefix}user:{u:${id}}`;
}

export class RedisUserStore implements UserStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  userKey(id: string): string {
    return userKey(this.prefix, id);
  }
  emailKey(email: string): string {
    return `${this.prefix}user-email:${email}`;
  }

  async findById(id: string): Promise<StoredUser | null> {
    return storeCall(async () => parseUser(await this.redis.get(this.userKey(id))));
  }

  async findByEmail(email: string): Promise<StoredUser | null> {
    return storeCall(async () => {
      const id = await this.redis.get(this.emailKey(email));
      return id === null ? null : parseUser(await this.redis.get(this.userKey(id)));
    });
  }

  async insert(user: StoredUser): Promise<void> {
    await storeCall(async () => {
      const claimed = await this.redis.set(this.emailKey(user.email), user.id, 'NX');
      if (claimed !== 'OK') throw new EmailTakenError(user.email);
      try {
        const created = await this.redis.set(this.userKey(user.id), JSON.stringify(user), 'NX');
        if (created !== 'OK') throw new EmailTakenError(user.email);
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
    return storeCall(
      async () => (await UPDATE_EXISTING.run(this.redis, [this.userKey(id)], [JSON.stringify(fields)])) === 1,
    );
  }

  async close(): Promise<void> {}
}

export function parseUser(raw: string | null): StoredUser | null {
  if (raw === null) return null;
  let user: Partial<StoredUser>;
  try {
    user = JSON.parse(raw) as Partial<StoredUser>;
  } catch {
    return null;
  }
  const { id, email, name, role, passwordHash, createdAt } = user;
  if (!id || !email || typeof name !== 'string' || !passwordHash || !ROLES.includes(role as Role))
    return null;
  return { id, email, name, role: role as Role, passwordHash, createdAt: Number(createdAt ?? 0) };
}
