/**
 * Administration (admins only; CONTRACT.md, Gateway and Accounts): list users, sign a user out
 * everywhere, disable and re-enable a user. Disabling sets the flag and increments the user's session
 * version in one store write (sign-in then answers the same 401 as a wrong password, and no session
 * issued before is accepted again), then ends every session of the user through the session store.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { audit } from '../audit.js';
import { Forbidden, NotFound } from '../errors.js';
import type { SessionView } from '../plugins/sessions.js';
import type { PublicUser } from '../stores/user-directory.js';

const errorRef = { $ref: 'ErrorBody#' } as const;

const userIdParams = {
  type: 'object',
  required: ['userId'],
  properties: { userId: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } },
} as const;

const userSummarySchema = {
  type: 'object',
  required: ['id', 'email', 'name', 'role', 'disabled'],
  properties: {
    id: { type: 'string' },
    email: { type: 'string' },
    name: { type: 'string' },
    role: { type: 'string', enum: ['user', 'admin'] },
    disabled: { type: 'boolean' },
  },
  additionalProperties: false,
} as const;

/** Runs after `requireSession`, before the body and params are validated: a non-admin learns nothing. */
async function requireAdmin(request: FastifyRequest): Promise<void> {
  if (request.user?.role !== 'admin') throw new Forbidden('only administrators may do this');
}

export default async function adminRoutes(app: FastifyInstance): Promise<void> {
  const adminOnly = [app.requireSession, requireAdmin];

  /** Ends every session of `userId` (counted by reason); when that is the caller, this response also clears their cookie. */
  const endSessionsOf = async (
    request: FastifyRequest,
    reply: FastifyReply,
    userId: string,
    reason: 'admin' | 'disabled',
  ) => {
    const ended = await app.sessionStore.destroyAllForUser(userId, reason);
    if (userId === (request.user as PublicUser).id) app.sessions.clearCookie(reply);
    app.metrics.sessionsEnded(reason, ended.length);
    return ended.length;
  };

  /** Answers of disable and enable: 204, or the contract's error body (404: no such user). */
  const userActionResponses = {
    204: { type: 'null' },
    400: errorRef,
    401: errorRef,
    403: errorRef,
    404: errorRef,
    503: errorRef,
  };

  const actor = (request: FastifyRequest) => ({
    actorId: (request.user as PublicUser).id,
    sessionId: (request.session as SessionView).id,
  });

  app.get(
    '/admin/users',
    {
      onRequest: adminOnly,
      schema: {
        summary: 'List users (admin); never their password hashes',
        response: {
          200: {
            type: 'object',
            required: ['users'],
            properties: { users: { type: 'array', items: userSummarySchema } },
            additionalProperties: false,
          },
          401: errorRef,
          403: errorRef,
          503: errorRef,
        },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'no-store');
      return { users: await app.users.list() };
    },
  );

  app.delete<{ Params: { userId: string } }>(
    '/admin/users/:userId/sessions',
    {
      onRequest: adminOnly,
      schema: {
        summary: "Delete all of a user's sessions (admin)",
        params: userIdParams,
        response: { 204: { type: 'null' }, 400: errorRef, 401: errorRef, 403: errorRef, 503: errorRef },
      },
    },
    async (request, reply) => {
      const { userId } = request.params;
      const ended = await endSessionsOf(request, reply, userId, 'admin');
      audit(request, 'user_sessions_revoked', { ...actor(request), targetId: userId, sessionsEnded: ended });
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { userId: string } }>(
    '/admin/users/:userId/disable',
    {
      onRequest: adminOnly,
      schema: {
        summary: 'Disable a user (admin): ends all their sessions; their sign-in answers 401',
        params: userIdParams,
        response: userActionResponses,
      },
    },
    async (request, reply) => {
      const { userId } = request.params;
      if (!(await app.users.setDisabled(userId, true))) throw new NotFound('no such user');
      const ended = await endSessionsOf(request, reply, userId, 'disabled');
      audit(request, 'user_disabled', { ...actor(request), targetId: userId, sessionsEnded: ended });
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { userId: string } }>(
    '/admin/users/:userId/enable',
    {
      onRequest: adminOnly,
      schema: {
        summary: 'Re-enable a disabled user (admin): they may sign in again',
        params: userIdParams,
        response: userActionResponses,
      },
    },
    async (request, reply) => {
      const { userId } = request.params;
      if (!(await app.users.setDisabled(userId, false))) throw new NotFound('no such user');
      audit(request, 'user_enabled', { ...actor(request), targetId: userId });
      return reply.code(204).send();
    },
  );
}
