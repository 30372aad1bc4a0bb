/**
 * The gateway's Prometheus metrics (CONTRACT.md, Metrics), served on their own listener
 * (`METRICS_PORT`/`METRICS_HOST`, see `@stagedoor/shared/metrics`). Routes count their decisions through
 * `app.metrics` (one call where the outcome is known); with metrics off every call is a no-op and no hook
 * is added, so the off case costs nothing.
 */
import {
  createAppRegistry,
  type MetricsListenerOptions,
  observeHttpRequests,
  serveMetrics,
} from '@stagedoor/shared/metrics';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, type Registry } from 'prom-client';

export const LOGIN_OUTCOMES = ['success', 'invalid_credentials', 'rate_limited'] as const;
export type LoginOutcome = (typeof LOGIN_OUTCOMES)[number];

export const SESSION_END_REASONS = [
  'logout',
  'logout_all',
  'revoked',
  'admin',
  'password_changed',
  'disabled',
  'expired',
] as const;
export type SessionEndReason = (typeof SESSION_END_REASONS)[number];

export interface GatewayMetrics {
  login(outcome: LoginOutcome): void;
  /** `count` sessions ended for `reason` (a sign-out everywhere may end several, or none). */
  sessionsEnded(reason: SessionEndReason, count?: number): void;
  mediaTokenMinted(): void;
  /** The registry (undefined when metrics are off). */
  readonly registry: Registry | undefined;
  /** The metrics listener's port once ready (undefined when off). */
  port(): number | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: GatewayMetrics;
  }
}

const noop = () => undefined;
const OFF: GatewayMetrics = {
  login: noop,
  sessionsEnded: noop,
  mediaTokenMinted: noop,
  registry: undefined,
  port: noop,
};

async function metricsPlugin(
  app: FastifyInstance,
  opts: { listener: MetricsListenerOptions | undefined },
): Promise<void> {
  if (!opts.listener) {
    app.decorate('metrics', OFF);
    return;
  }
  const registry = createAppRegistry();
  const logins = new Counter({
    name: 'stagedoor_logins_total',
    help: 'Sign-in attempts by outcome',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const ended = new Counter({
    name: 'stagedoor_sessions_ended_total',
    help: 'Sessions ended, by why',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const minted = new Counter({
    name: 'stagedoor_media_tokens_minted_total',
    help: 'Media tokens minted',
    registers: [registry],
  });
  // Every series exists from the start at 0, so rate() and absent-series alerts work before the first event.
  for (const outcome of LOGIN_OUTCOMES) logins.inc({ outcome }, 0);
  for (const reason of SESSION_END_REASONS) ended.inc({ reason }, 0);
  observeHttpRequests(app, registry);
  const endpoint = serveMetrics(app, registry, opts.listener);
  app.decorate('metrics', {
    login: (outcome) => logins.inc({ outcome }),
    sessionsEnded: (reason, count = 1) => {
      if (count > 0) ended.inc({ reason }, count);
    },
    mediaTokenMinted: () => minted.inc(),
    registry,
    port: endpoint.port,
  } satisfies GatewayMetrics);
}

export default fp(metricsPlugin, { name: 'stagedoor-metrics', fastify: '5.x' });
