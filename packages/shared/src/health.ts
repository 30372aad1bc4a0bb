/**
 * `/healthz` and `/readyz` for both apps. `/healthz` says the process answers; `/readyz` runs every
 * readiness check at once and answers 503 `service_unavailable` (naming what is down) while any fails,
 * so an orchestrator stops routing to an instance whose Redis, storage or keys are unreachable.
 */
import type { FastifyInstance } from 'fastify';
import { ErrorCode } from './errors.js';

export interface ReadinessCheck {
  name: string;
  /** Resolves when ready; throws (any error) when not. Must be bounded in time. */
  check(): Promise<void>;
}

const statusSchema = { type: 'object', properties: { status: { type: 'string' } } } as const;

export function healthRoutes(checks: () => readonly ReadinessCheck[]) {
  return async function registerHealthRoutes(app: FastifyInstance): Promise<void> {
    app.get('/healthz', { schema: { response: { 200: statusSchema } } }, async () => ({ status: 'ok' }));
    app.get(
      '/readyz',
      { schema: { response: { 200: statusSchema, 503: { $ref: 'ErrorBody#' } } } },
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
        if (down.length === 0) return { status: 'ready' };
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
