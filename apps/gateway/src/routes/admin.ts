/** Administration: DELETE /admin/users/:userId/sessions signs a user out everywhere (admins only). */
import type { FastifyInstance } from 'fastify';
import { Forbidden } from '../errors.js';

const errorRef = { $ref: 'ErrorBody#' } as const;

export default async function adminRoutes(app: FastifyInstance): Promise<void> {
  app.delete<{ Params: { userId: string } }>(
    '/admin/users/:userId/sessions',
    {
      onRequest: app.requireSession,
      schema: {
        summary: "Delete all of a user's sessions (admin)",
        params: {
          type: 'object',
          required: ['userId'],
          properties: { userId: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } },
        },
        response: { 204: { type: 'null' }, 400: errorRef, 401: errorRef, 403: errorRef, 503: errorRef },
      },
    },
    async (request, reply) => {
      if (request.user?.role !== 'admin') throw new Forbidden('only administrators may do this');
      await app.sessionStore.destroyAllForUser(request.params.userId);
      if (request.params.userId === request.user.id) app.sessions.clearCookie(reply);
      return reply.code(204).send();
    },
  );
}
