/**
 * `app.attemptLimiter`: failed-attempt limiting shared by every gateway instance (Redis) or per process
 * (memory). Failures are counted per key in a fixed window that starts at the first failure; a key whose
 * count reached its limit is refused until the window ends. Sign-in uses one key per account
 * (normalized email) and one per client IP; the OAuth token endpoint can reuse it per client id.
 * Only failures count, so a busy NAT of honest users is not blocked by its successful sign-ins.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { GatewayConfig } from '../config.js';

/** A counter name; a bare string gets the per-account limit (`LOGIN_MAX_FAILURES_PER_ACCOUNT`). */
export type AttemptKey = string | { key: string; limit: number };

export interface AttemptLimiter {
  /** Seconds until every key may try again; 0 means allowed now. */
  retryAfter(keys: AttemptKey[]): Promise<number>;
  recordFailure(keys: AttemptKey[]): Promise<void>;
  reset(keys: AttemptKey[]): Promise<void>;
  readonly windowSeconds: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    attemptLimiter: AttemptLimiter;
  }
}

async function attemptLimiterPlugin(app: FastifyInstance, opts: { config: GatewayConfig }): Promise<void> {
  const { windowSeconds, perAccountPerWindow } = opts.config.loginRateLimit;
  const store = app.stores.attempts;
  const normalize = (k: AttemptKey) => (typeof k === 'string' ? { key: k, limit: perAccountPerWindow } : k);
  const limiter: AttemptLimiter = {
    windowSeconds,
    async retryAfter(keys) {
      const waits = await Promise.all(keys.map(normalize).map((k) => store.blockedFor(k.key, k.limit)));
      const ms = Math.max(0, ...waits);
      return ms === 0 ? 0 : Math.ceil(ms / 1000);
    },
    async recordFailure(keys) {
      await Promise.all(keys.map(normalize).map((k) => store.increment(k.key, windowSeconds * 1000)));
    },
    async reset(keys) {
      await Promise.all(keys.map(normalize).map((k) => store.reset(k.key)));
    },
  };
  app.decorate('attemptLimiter', limiter);
}

export default fp(attemptLimiterPlugin, {
  name: 'stagedoor-attempt-limiter',
  fastify: '5.x',
  dependencies: ['stagedoor-stores'],
});
