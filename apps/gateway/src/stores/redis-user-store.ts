/**
 * Users in Redis (P = REDIS_PREFIX):
 *
 *   P user:{u:<id>}        STRING  the user as JSON: id, email, name, role, passwordHash, createdAt,
 *                                 disabled, sessionVersion
 *   P user-email:<email>   STRING  <id>; SET NX is what makes emails unique
 *
 * The hash tag puts a user's record in the same Cluster slot as their sessions, and storing it as a
 * string lets one MGET read a session and its user together (`RedisSessionStore.getWithUser`).
 * Listing users (an administrator's page, not a request path) scans for the user keys on every master.
 */
import { Cluster } from 'ioredis';
import type { RedisClient } from './redis-client.js';
import { RedisScript } from './redis-script.js';
import { storeCall } from './store-errors.js';
import {
  EmailTakenError,
  ROLES,
  type Role,
  type StoredUser,
  type UserStore,
  type UserUpdate,
  type UserUpdateOptions,
} from './user-directory.js';

/**
 * KEYS: user. ARGV: a JSON object of fields to change, "1" to increment sessionVersion, the password hash
 * the user must still have ("" for any). Only when the user exists (and the hash matches); returns the
 * user as stored afterwards, else false.
 */
const UPDATE_EXISTING = new RedisScript(`
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local user = cjson.decode(raw)
if ARGV[3] ~= '' and user.passwordHash ~= ARGV[3] then return false end
for k, v in pairs(cjson.decode(ARGV[1])) do user[k] = v end
if ARGV[2] == '1' then user.sessionVersion = (tonumber(user.sessionVersion) or 0) + 1 end
local encoded = cjson.encode(user)
redis.call('SET', KEYS[1], encoded)
return encoded
`);

/** A Redis glob pattern matching `text` literally. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

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

  async update(id: string, fields: UserUpdate, options: UserUpdateOptions = {}) {
    return storeCall(async () => {
      const stored = await UPDATE_EXISTING.run(
        this.redis,
        [this.userKey(id)],
        [JSON.stringify(fields), options.endSessions ? '1' : '0', options.ifPasswordHash ?? ''],
      );
      return typeof stored === 'string' ? parseUser(stored) : null;
    });
  }

  async list(): Promise<StoredUser[]> {
    return storeCall(async () => {
      const nodes = this.redis instanceof Cluster ? this.redis.nodes('master') : [this.redis];
      const match = `${globEscape(this.prefix)}user:{u:*}`;
      const keys = new Set<string>();
      for (const node of nodes) {
        let cursor = '0';
        do {
          const [next, batch] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
          cursor = next;
          for (const key of batch) keys.add(key);
        } while (cursor !== '0');
      }
      // One GET per key: on a Cluster the users live in different slots.
      const raws = await Promise.all([...keys].map((key) => this.redis.get(key)));
      return raws.flatMap((raw) => {
        const user = parseUser(raw);
        return user ? [user] : [];
      });
    });
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
  const { id, email, name, role, passwordHash, createdAt, disabled, sessionVersion } = user;
  if (!id || !email || typeof name !== 'string' || !passwordHash || !ROLES.includes(role as Role))
    return null;
  return {
    id,
    email,
    name,
    role: role as Role,
    passwordHash,
    createdAt: Number(createdAt ?? 0),
    // Users stored before these fields existed: enabled, version 0 (what their sessions carry).
    disabled: disabled === true,
    sessionVersion: Number(sessionVersion ?? 0),
  };
}
