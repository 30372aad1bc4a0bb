/**
 * Where the gateway keeps sessions, users and attempt counters: Redis (or a Redis Cluster) when
 * `REDIS_URL` is set — one ioredis client, handed to the stores themselves (no `@fastify/redis`: nothing
 * reads an `app.redis`, and the plugin would hold start-up until Redis is ready) — and process memory otherwise. The client fails fast while Redis is unreachable (no offline queue, one retry, short
 * timeouts) so a request answers 503 at once instead of hanging, and reconnects by itself; the gateway
 * also starts while Redis is down (after `REDIS_STARTUP_WAIT_MS`) and serves once it connects.
 */

import type { ReadinessCheck } from '@stagedoor/shared/health';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { GatewayConfig } from '../config.js';
import { type AttemptStore, MemoryAttemptStore, RedisAttemptStore } from '../stores/attempt-store.js';
import { MemoryRevocationStore } from '../stores/memory-revocation-store.js';
import { MemorySessionStore } from '../stores/memory-session-store.js';
import { MemoryUserStore } from '../stores/memory-user-store.js';
import { createRedisClient, failFastRedisOptions, type RedisClient } from '../stores/redis-client.js';
import { RedisRevocationStore } from '../stores/redis-revocation-store.js';
import { RedisSessionStore } from '../stores/redis-session-store.js';
import { RedisUserStore } from '../stores/redis-user-store.js';
import type { RevocationStore } from '../stores/revocation-store.js';
import type { SessionRecord, SessionStore } from '../stores/session-store.js';
import { StoreUnavailableError } from '../stores/store-errors.js';
import type { StoredUser, UserStore } from '../stores/user-directory.js';

export interface Stores {
  kind: 'redis' | 'memory';
  sessions: SessionStore;
  users: UserStore;
  attempts: AttemptStore;
  /** Ended sessions, shared by every instance (see `stores/revocation-store.ts`). */
  revocations: RevocationStore;
  /** A live session and its user (null user: deleted), in one round trip where the store allows. */
  loadSession(hash: string): Promise<{ record: SessionRecord; user: StoredUser | null } | null>;
  /** Resolves when the backing store answers; throws `StoreUnavailableError` when it does not. */
  ping(): Promise<void>;
  /**
   * Runs `task` now if the store is reachable, and again each time it becomes reachable after an outage
   * (seeding that a Redis restart without persistence would otherwise lose). Failures are logged.
   */
  whenAvailable(name: string, task: () => Promise<void>): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    stores: Stores;
    /** `/readyz` answers 503 while any of these throws; plugins add their own. */
    readinessChecks: ReadinessCheck[];
  }
}

/** Kept for callers that build their own ioredis client with the gateway's settings. */
export { failFastRedisOptions };

function waitForReady(client: RedisClient, ms: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ready: boolean) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ready);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), ms);
    client.on('ready', onReady);
  });
}

async function storesPlugin(app: FastifyInstance, opts: { config: GatewayConfig }): Promise<void> {
  const { config } = opts;
  const idleMs = config.session.idleSeconds * 1000;
  app.decorate('readinessChecks', [] as ReadinessCheck[]);
  if (config.redisUrl === undefined) {
    const sessions = new MemorySessionStore(idleMs, () => app.metrics.sessionsEnded('expired'));
    const users = new MemoryUserStore();
    app.decorate('stores', {
      kind: 'memory',
      sessions,
      users,
      attempts: new MemoryAttemptStore(),
      revocations: new MemoryRevocationStore(),
      loadSession: async (hash) => {
        const record = await sessions.get(hash);
        return record ? { record, user: await users.findById(record.userId) } : null;
      },
      ping: async () => undefined,
      whenAvailable: (_name, task) => task(),
    } satisfies Stores);
  } else {
    const client = createRedisClient(config.redisUrl, config.redisCluster);
    // Log transitions only: a reconnect loop would otherwise log one line per attempt.
    let state: 'connecting' | 'up' | 'down' = 'connecting';
    const markDown = (code: string | undefined) => {
      if (state !== 'down') app.log.warn({ code }, 'redis unreachable; requests that need it answer 503');
      state = 'down';
    };
    client.on('ready', () => {
      if (state !== 'up') app.log.info('redis connected');
      state = 'up';
    });
    client.on('error', (error: Error & { code?: string }) => markDown(error.code));
    client.on('close', () => markDown(undefined));
    app.addHook('onClose', async () => {
      client.disconnect();
    });
    // Wait a little for Redis; if it is not there yet, start anyway: requests that need it answer 503,
    // /readyz says so, and service begins when it connects.
    if (!(await waitForReady(client, config.redisStartupWaitMs))) {
      app.log.warn('starting without redis; /readyz answers 503 until it connects');
    }
    const availableTasks: Array<{ name: string; task: () => Promise<void> }> = [];
    const runTask = async ({ name, task }: { name: string; task: () => Promise<void> }) => {
      try {
        await task();
      } catch (error) {
        app.log.warn(
          { task: name, reason: (error as Error).message },
          'store task failed; retried on reconnect',
        );
      }
    };
    client.on('ready', () => {
      for (const entry of availableTasks) void runTask(entry);
    });
    const prefix = config.redisPrefix;
    const sessions = new RedisSessionStore(client, prefix, idleMs);
    const revocations = new RedisRevocationStore(client, prefix, app.log);
    app.decorate('stores', {
      kind: 'redis',
      sessions,
      loadSession: (hash) => sessions.getWithUser(hash),
      users: new RedisUserStore(client, prefix),
      attempts: new RedisAttemptStore(client, prefix),
      revocations,
      whenAvailable: async (name, task) => {
        availableTasks.push({ name, task });
        if (client.status === 'ready') await runTask({ name, task });
      },
      ping: async () => {
        try {
          await client.ping();
        } catch (error) {
          throw new StoreUnavailableError(error instanceof Error ? error.message : 'ping failed');
        }
      },
    } satisfies Stores);
  }
  app.readinessChecks.push({ name: 'store', check: () => app.stores.ping() });
  app.addHook('onClose', async () => {
    await app.stores.sessions.close();
    await app.stores.users.close();
    await app.stores.revocations.close();
  });
}

export default fp(storesPlugin, { name: 'stagedoor-stores', fastify: '5.x' });
