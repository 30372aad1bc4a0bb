/**
 * Media's Prometheus metrics (CONTRACT.md, Metrics), served on their own listener (`METRICS_PORT`/
 * `METRICS_HOST`, see `@stagedoor/shared/metrics`). Decision points report through `app.metrics`; with
 * metrics off every call is a no-op and no hook is added.
 *
 * The numbers are what the client got: a stream counts as active from the moment its body is handed to the
 * response until the response closes (finished or cut off by the client), and bytes count when the
 * response socket's write of them has called back without an error, not when storage delivered them.
 */
import {
  createAppRegistry,
  type MetricsListenerOptions,
  observeHttpRequests,
  serveMetrics,
} from '@stagedoor/shared/metrics';
import type { FastifyInstance, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export const TOKEN_OUTCOMES = ['ok', 'invalid', 'expired', 'revoked', 'forbidden'] as const;
export type TokenOutcome = (typeof TOKEN_OUTCOMES)[number];

/** S3 operation names (`GetObject`, `HeadObject`, `ListObjectsV2`, …): a small fixed set. */
export type StorageObserver = (operation: string, status: string, seconds: number) => void;

/** A body that can report the bytes the response actually wrote (`StorageBody`). */
export interface CountedBody {
  countWritten: ((bytes: number) => void) | undefined;
}

export interface MediaMetrics {
  tokenVerified(outcome: TokenOutcome): void;
  /** Call just before `reply.send(body)`: counts the stream as active until the response closes. */
  streamStarted(reply: FastifyReply, body: CountedBody): void;
  /** Storage request latency to the answer's head, by operation and HTTP status (`error`, `aborted`). */
  readonly observeStorage: StorageObserver | undefined;
  /** The revocation feed's state, 1 connected / 0 not (0 until a feed reports). */
  revocationFeedUp(up: boolean): void;
  readonly registry: Registry | undefined;
  port(): number | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: MediaMetrics;
  }
}

const noop = () => undefined;
const OFF: MediaMetrics = {
  tokenVerified: noop,
  streamStarted: noop,
  observeStorage: undefined,
  revocationFeedUp: noop,
  registry: undefined,
  port: noop,
};

/** Seconds to storage's answer head: a local MinIO answers in ms, a remote S3 in tens of ms. */
const STORAGE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

async function metricsPlugin(
  app: FastifyInstance,
  opts: { listener: MetricsListenerOptions | undefined },
): Promise<void> {
  if (!opts.listener) {
    app.decorate('metrics', OFF);
    return;
  }
  const registry = createAppRegistry();
  const verifications = new Counter({
    name: 'stagedoor_token_verifications_total',
    help: 'Token checks of requests to token-protected routes, by outcome',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const active = new Gauge({
    name: 'stagedoor_streams_active',
    help: 'Object bodies being streamed to clients now',
    registers: [registry],
  });
  const streams = new Counter({
    name: 'stagedoor_streams_total',
    help: 'Object bodies streamed, by whether the response completed or the client went away',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const bytes = new Counter({
    name: 'stagedoor_bytes_sent_total',
    help: 'Object body bytes written to client sockets (write callbacks, not bytes read from storage)',
    registers: [registry],
  });
  const storage = new Histogram({
    name: 'stagedoor_storage_request_duration_seconds',
    help: "Storage requests: time to the answer's head, by S3 operation and HTTP status (error: no answer)",
    labelNames: ['operation', 'status'] as const,
    buckets: STORAGE_BUCKETS,
    registers: [registry],
  });
  const feed = new Gauge({
    name: 'stagedoor_revocation_feed_up',
    help: "1 while media's revocation feed from the gateway is connected, else 0",
    registers: [registry],
  });
  for (const outcome of TOKEN_OUTCOMES) verifications.inc({ outcome }, 0);
  for (const outcome of ['completed', 'aborted']) streams.inc({ outcome }, 0);
  feed.set(0);
  observeHttpRequests(app, registry);
  const endpoint = serveMetrics(app, registry, opts.listener);

  const countBytes = (n: number) => bytes.inc(n);
  app.decorate('metrics', {
    tokenVerified: (outcome) => verifications.inc({ outcome }),
    streamStarted: (reply, body) => {
      const res = reply.raw;
      if (res.destroyed) return; // already closed: its 'close' has fired and would never bring the gauge down
      active.inc();
      body.countWritten = countBytes;
      res.once('close', () => {
        active.dec();
        streams.inc({ outcome: res.writableFinished ? 'completed' : 'aborted' });
      });
    },
    observeStorage: (operation, status, seconds) => storage.observe({ operation, status }, seconds),
    revocationFeedUp: (up) => feed.set(up ? 1 : 0),
    registry,
    port: endpoint.port,
  } satisfies MediaMetrics);
}

export default fp(metricsPlugin, { name: 'stagedoor-metrics', fastify: '5.x' });
