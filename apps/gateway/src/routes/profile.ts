/** GET /profile/:userId: the caller's own profile; anyone else's is 403 (no enumeration of users). */
import type { FastifyInstance } from 'fastify';
import { Forbidden } from '../errors.js';

const errorRef = { $ref: 'ErrorBody#' } as const;

export default async function profileRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Params: { userId: string } }>(
    '/profile/:userId',
    {
      onRequest: app.requireSession,
      schema: {
        summary: "The caller's own profile",
        params: {
          type: 'object',
          required: ['userId'],
          properties: { userId: { type: 'string', minLength: 1, maxLength: 100 } },
        },
        response: {
          200: {
            type: 'object',
            required: ['id', 'name', 'email'],
            properties: { id: { type: 'string' }, name: { type: 'string' }, email: { type: 'string' } },
            additionalProperties: false,
          },
          401: errorRef,
          403: errorRef,
          503: errorRef,
        },
      },
    },
    async (request, reply) => {
      const user = request.user;
      if (!user || user.id !== request.params.userId) {
        throw new Forbidden('you may only read your own profile');
      }
      reply.header('cache-control', 'no-store');
      return { id: user.id, name: user.name, email: user.email };
    },
  );
}
