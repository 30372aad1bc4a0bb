/**
 * Fixtures for the failed-attempt limit tests: a gateway on process memory, the shared test Redis, or
 * its own 3-master Redis Cluster, and a way to wait for work in flight without a wall-clock sleep.
 */
import type { FastifyInstance } from 'fastify';
import { buildTestApp, randomPrefix, testConfig } from './gateway.js';
import { startCluster } from './redis-servers.js';

export type LimitStoreKind = 'memory' | 'redis' | 'cluster';

export interface LimitTestApp {
  app: FastifyInstance;
  close(): Promise<void>;
}

/** A gateway with `env` on the given store; `close` also stops a Cluster it started. */
export async function limitTestApp(kind: LimitStoreKind, env: Record<string, string>): Promise<LimitTestApp> {
  if (kind !== 'cluster') {
    const app = await buildTestApp(testConfig(kind, env, randomPrefix()));
    return { app, close: () => app.close() };
  }
  const cluster = await startCluster();
  try {
    const url = `redis://127.0.0.1:${cluster.ports[0]}`;
    const app = await buildTestApp(testConfig('redis', { ...env, REDIS_URL: url, REDIS_CLUSTER: 'true' }));
    return {
      app,
      close: async () => {
        await app.close();
        await cluster.stop();
      },
    };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

/**
 * Resolves once `condition()` holds, checking after each turn of the event loop (the work it waits for
 * runs on worker threads and in Redis, not on a timer); fails after `turns` checks.
 */
export async function until(condition: () => boolean, turns = 1_000_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (condition()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error('the condition never held');
}

/** How many answers had each status code, e.g. `{ 401: 3, 429: 57 }`. */
export function statusCounts(responses: Array<{ statusCode: number }>): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const r of responses) counts[r.statusCode] = (counts[r.statusCode] ?? 0) + 1;
  return counts;
}
