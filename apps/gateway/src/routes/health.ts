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
      // Each store or service the gateway needs registers a check (see `plugins/stores.ts`).
      for (const { name, check } of app.hasDecorator('readinessChecks') ? app.readinessChecks : []) {
        try {
          await check();
        } catch {
          return reply
            .code(503)
            .header('cache-control', 'no-store')
            .send({ error: 'service_unavailable', message: `not ready: ${name} is not answering` });
        }
      }
      return { status: 'ready' };
    },
  );
}
