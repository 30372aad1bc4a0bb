/**
 * The stores run on a single Redis or a Redis Cluster (REDIS_CLUSTER=true): same commands, same keys
 * (every multi-key operation stays inside one `{u:<userId>}` hash tag). Both clients are set up to fail
 * fast while Redis is unreachable (no offline queue, one retry, short timeouts), so a request answers
 * 503 at once instead of hanging, and to reconnect by themselves when Redis is back.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';

export type RedisClient = Redis | Cluster;

export function failFastRedisOptions(): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    // Commands issued in the same tick leave in one write (a pipeline per tick): measured on Node 24
    // (bench/sessions, 2026-12-02), a signed-in read under 32 connections went 0.83× → 1.09× of the plain
    // floor, and the ~11 commands of each concurrent sign-in stop costing a write syscall apiece. (On
    // Node 20, before the hot path was trimmed, it had measured as more CPU per request; it was off.)
    enableAutoPipelining: true,
    // Keep reconnecting forever, at most once a second, so service resumes without a restart.
    retryStrategy: (times: number) => Math.min(times * 100, 1_000),
  };
}

/** `redis://[user:password@]host:port[/db]`; with `cluster`, the URL names one seed node (db 0 only). */
export function createRedisClient(url: string, cluster: boolean, overrides: RedisOptions = {}): RedisClient {
  const options = { ...failFastRedisOptions(), ...overrides };
  if (!cluster) return new Redis(url, options);
  const parsed = new URL(url);
  const { enableOfflineQueue, enableAutoPipelining, retryStrategy, ...nodeOptions } = options;
  return new Cluster([{ host: parsed.hostname, port: Number(parsed.port || 6379) }], {
    enableOfflineQueue,
    enableAutoPipelining,
    clusterRetryStrategy: retryStrategy ?? undefined,
    redisOptions: {
      ...nodeOptions,
      username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
      password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
      ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    },
  });
}
