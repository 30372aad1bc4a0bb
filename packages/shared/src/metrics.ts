/**
 * What both apps' Prometheus metrics share (CONTRACT.md, Metrics): the listener settings, a registry with
 * the process defaults, the request-duration histogram, and the small HTTP server that serves `/metrics`
 * on its own port. That server is never the public Fastify instance, so the public port has no `/metrics`
 * and a scrape never goes through the public hooks (CORS, sessions, rate limits).
 *
 * Label values are bounded: the route label is Fastify's route template (`/v1/objects/*`), or
 * `unmatched` for a URL no route matched, never the raw URL.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import type { EnvReader } from './env.js';

export interface MetricsListenerOptions {
  host: string;
  /** 0 picks a free port (tests); the environment's `METRICS_PORT=0` means no listener at all. */
  port: number;
}

/** `METRICS_PORT` (0 or unset: off) and `METRICS_HOST` (default loopback); `publicPort` may not be reused. */
export function readMetricsListener(env: EnvReader, publicPort: number): MetricsListenerOptions | undefined {
  const port = env.port('METRICS_PORT', 0);
  const host = env.string('METRICS_HOST', '127.0.0.1');
  if (port === 0) return undefined;
  if (port === publicPort) env.problem(`METRICS_PORT must differ from the public port (both ${port})`);
  return { host, port };
}

/** The route label of a request no route matched (a 404 for a random URL): one value, whatever the URL. */
export const UNMATCHED_ROUTE = 'unmatched';

/** Seconds; the latency of a signed-in API call is a few ms, a storage-bound first byte tens of ms. */
export const HTTP_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** One registry per app instance (tests build many apps in one process), with the process defaults. */
export function createAppRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * `http_request_duration_seconds{method,route,status_code}`, observed when a response has been written
 * (Fastify's onResponse; a response the client cut off is not a completed request and is not observed).
 */
export function observeHttpRequests(app: FastifyInstance, registry: Registry): void {
  const histogram = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from the start of a request to its response being written, by route template and status',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: HTTP_DURATION_BUCKETS,
    registers: [registry],
  });
  app.addHook('onResponse', (request, reply, done) => {
    histogram.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? UNMATCHED_ROUTE,
        status_code: reply.statusCode,
      },
      reply.elapsedTime / 1000,
    );
    done();
  });
}

export interface MetricsEndpoint {
  /** The bound port once the app is ready (the listener starts in onReady, stops in onClose). */
  port(): number | undefined;
}

/**
 * Serves `GET /metrics` from `registry` on a listener of its own, started when the app becomes ready and
 * closed with it. A taken port fails start-up with a one-line reason naming METRICS_PORT.
 */
export function serveMetrics(
  app: FastifyInstance,
  registry: Registry,
  listener: MetricsListenerOptions,
): MetricsEndpoint {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?', 1)[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n'),
    );
  });
  server.keepAliveTimeout = 65_000; // longer than Prometheus' scrape interval
  app.addHook('onReady', async () => {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        const taken = error.code === 'EADDRINUSE';
        reject(
          Object.assign(
            new Error(
              taken
                ? `metrics port ${listener.port} is already in use (set METRICS_PORT)`
                : `cannot listen for metrics on ${listener.host}:${listener.port} (${error.code})`,
            ),
            { code: 'ERR_METRICS_LISTEN' },
          ),
        );
      });
      server.listen({ host: listener.host, port: listener.port }, () => resolve());
    });
    app.log.info(
      { metrics: `http://${listener.host}:${(server.address() as AddressInfo).port}/metrics` },
      'metrics listening',
    );
  });
  app.addHook('onClose', async () => {
    if (!server.listening) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: () => (server.listening ? (server.address() as AddressInfo).port : undefined) };
}
