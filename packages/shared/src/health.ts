/**
 * `/healthz` and `/readyz` for both apps. `/healthz` says the process answers; `/readyz` runs every
 * readiness check at once and answers 503 `service_unavailable` (naming what is down) while any fails,
 * so an orchestrator stops routing to an instance whose Redis, storage or keys are unreachable.
 * Details (`ReadinessDetail`) report what is degraded without failing readiness: with any of them not
 * `ok`, the answer is still 200, with `"status": "degraded"` and every detail by name.
 */
import type { FastifyInstance } from 'fastify';
import { ErrorCode } from './errors.js';

export interface ReadinessCheck {
  name: string;
  /** Resolves when ready; throws (any error) when not. Must be bounded in time. */
  check(): Promise<void>;
}

/** Something an instance can serve without, reported by `/readyz` (e.g. media's revocation feed). */
export interface ReadinessDetail {
  name: string;
  report(): { ok: boolean; state: string; since?: string };
}

const statusSchema = { type: 'object', properties: { status: { type: 'string' } } } as const;
const readySchema = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ready', 'degraded'] },
    details: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        properties: { ok: { type: 'boolean' }, state: { type: 'string' }, since: { type: 'string' } },
      },
    },
  },
} as const;

export function healthRoutes(
  checks: () => readonly ReadinessCheck[],
  details: () => readonly ReadinessDetail[] = () => [],
) {
  return async function registerHealthRoutes(app: FastifyInstance): Promise<void> {
    app.get('/healthz', { schema: { response: { 200: statusSchema } } }, async () => ({ status: 'ok' }));
    app.get(
      '/readyz',
      { schema: { response: { 200: readySchema, 503: { $ref: 'ErrorBody#' } } } },
      async (_request, reply) => {
        const results = await Promise.all(
          checks().map(({ name, check }) =>
            check().then(
              () => null,
              () => name,
            ),
          ),
        );
        const down = results.filter((name): name is string => name !== null);
        if (down.length === 0) {
          const reported = details().map((d) => [d.name, d.report()] as const);
          if (reported.length === 0) return { status: 'ready' };
          reply.header('cache-control', 'no-store');
          return {
            status: reported.every(([, r]) => r.ok) ? 'ready' : 'degraded',
            details: Object.fromEntries(reported),
          };
        }
        return reply
          .code(503)
          .header('cache-control', 'no-store')
          .send({
            error: ErrorCode.serviceUnavailable,
            message: `not ready: ${down.join(' and ')} not answering`,
          });
      },
    );
  };
}
