import { ErrorCode } from '@stagedoor/shared/errors';
import type { FastifyInstance } from 'fastify';

export default async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/healthz',
    { schema: { response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } } },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        response: {
          200: { type: 'object', properties: { status: { type: 'string' } } },
          503: { $ref: 'ErrorBody#' },
        },
      },
    },
    async (_request, reply) => {
      // Both probes are bounded (READY_TIMEOUT_MS, JWKS_TIMEOUT_MS), so readyz answers in bounded time.
      const [storage, keys] = await Promise.all([app.storage.reachable(), app.tokenVerifier.keysReachable()]);
      if (storage && keys) return { status: 'ready' };
      const missing = [storage ? null : 'storage', keys ? null : 'verification keys']
        .filter(Boolean)
        .join(' and ');
      return reply
        .code(503)
        .header('cache-control', 'no-store')
        .send({ error: ErrorCode.serviceUnavailable, message: `${missing} unreachable` });
    },
  );
}
