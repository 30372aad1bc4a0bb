/**
 * Revocations in Redis, shared by every gateway instance (P = REDIS_PREFIX):
 *
 *   P revocations   ZSET     member = session public handle, score = exp (epoch ms): until then a media
 *                            token could still carry it; older members are removed on every write, and
 *                            the key expires with its latest member
 *   P revocations   channel  pub/sub: each publish as JSON, so every instance tells its own streams
 *
 * The record and the message go out in one Lua script (one key, so one slot on a Cluster; PUBLISH reaches
 * every node of a Cluster). Pub/sub delivers at most once: when this instance's subscriber connection is
 * lost and comes back, listeners of `onGap` start their streams over from a snapshot, so nothing published
 * meanwhile is missed. The publishing instance dispatches to its own listeners at once, not through Redis,
 * and ignores its own messages when they come back.
 */
import { randomBytes } from 'node:crypto';
import { parseRevocationEntry, type RevocationEntry } from '@stagedoor/shared/revocations';
import { Cluster } from 'ioredis';
import type { RedisClient } from './redis-client.js';
import { RedisScript } from './redis-script.js';
import {
  type RevocationListener,
  RevocationListeners,
  type RevocationStore,
  type SessionEndReason,
  type SessionRevocation,
} from './revocation-store.js';
import { storeCall } from './store-errors.js';

/** KEYS: the set. ARGV: channel, message, now ms, then sid, exp ms pairs. */
const RECORD = new RedisScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
for i = 4, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i]) end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], last[2]) end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
`);

const REASONS: readonly SessionEndReason[] = [
  'logout',
  'logout_all',
  'revoked',
  'admin',
  'password_changed',
  'disabled',
];

interface Message {
  /** The publishing instance. */
  from: string;
  revocations: SessionRevocation[];
}

function parseMessage(raw: string): Message | null {
  let value: { from?: unknown; revocations?: unknown };
  try {
    value = JSON.parse(raw) as typeof value;
  } catch {
    return null;
  }
  if (typeof value.from !== 'string' || !Array.isArray(value.revocations)) return null;
  const revocations: SessionRevocation[] = [];
  for (const item of value.revocations) {
    const entry = parseRevocationEntry(item);
    const reason = (item as { reason?: unknown }).reason;
    if (!entry || !REASONS.includes(reason as SessionEndReason)) return null;
    revocations.push({ ...entry, reason: reason as SessionEndReason });
  }
  return { from: value.from, revocations };
}

export class RedisRevocationStore implements RevocationStore {
  readonly #instance = randomBytes(9).toString('base64url');
  readonly #listeners = new RevocationListeners();
  readonly #subscriber: RedisClient;
  readonly #key: string;
  readonly #channel: string;
  #subscribed = false;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    private readonly log: { warn(obj: object, msg: string): void },
  ) {
    this.#key = `${prefix}revocations`;
    this.#channel = `${prefix}revocations`;
    // A subscribed connection can run nothing else, hence a second one.
    this.#subscriber = redis instanceof Cluster ? redis.duplicate() : redis.duplicate();
    this.#subscriber.on('error', () => undefined); // the command client reports outages
    this.#subscriber.on('message', (channel: string, raw: string) => {
      if (channel !== this.#channel) return;
      const message = parseMessage(raw);
      if (message === null) {
        this.log.warn({ channel }, 'ignored a malformed revocation message');
        return;
      }
      if (message.from === this.#instance) return;
      for (const r of message.revocations) this.#listeners.emit(r);
    });
    // Subscribed on every (re)connect; once Redis confirms, every stream starts over from a snapshot:
    // what was published while this instance was not subscribed is only in the set (a snapshot taken
    // before the confirmation could miss a revocation published in between).
    this.#subscriber.on('ready', () => {
      this.#subscriber.subscribe(this.#channel).then(
        () => {
          this.#subscribed = true;
          this.#listeners.emitGap();
        },
        () => undefined,
      );
    });
    this.#subscriber.on('close', () => {
      if (!this.#subscribed) return;
      this.#subscribed = false;
      this.#listeners.emitGap();
    });
  }

  /** Whether this instance hears the others now (false: its streams would miss their revocations). */
  get subscribed(): boolean {
    return this.#subscribed;
  }

  async publish(revocations: readonly SessionRevocation[]): Promise<void> {
    if (revocations.length === 0) return;
    const message = JSON.stringify({ from: this.#instance, revocations: [...revocations] } satisfies Message);
    const args = revocations.flatMap((r) => [r.sid, Math.ceil(r.exp * 1000)]);
    await storeCall(() => RECORD.run(this.redis, [this.#key], [this.#channel, message, Date.now(), ...args]));
    for (const r of revocations) this.#listeners.emit(r);
  }

  async snapshot(): Promise<RevocationEntry[]> {
    return storeCall(async () => {
      const flat = await this.redis.zrangebyscore(this.#key, `(${Date.now()}`, '+inf', 'WITHSCORES');
      const entries: RevocationEntry[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        entries.push({ sid: flat[i] as string, exp: Number(flat[i + 1]) / 1000 });
      }
      return entries;
    });
  }

  subscribe(listener: RevocationListener): () => void {
    return this.#listeners.subscribe(listener);
  }

  onGap(listener: () => void): () => void {
    return this.#listeners.onGap(listener);
  }

  async close(): Promise<void> {
    this.#subscriber.removeAllListeners('close');
    this.#subscriber.disconnect();
  }
}
