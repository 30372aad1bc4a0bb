/**
 * Sign-in surface (CONTRACT.md, Gateway): /auth/login, /auth/logout, /auth/logout-all, /auth/me,
 * /auth/sessions, DELETE /auth/sessions/:id.
 */
import type { FastifyInstance } from 'fastify';
import { audit } from '../audit.js';
import { clientAddress } from '../client-address.js';
import { InvalidCredentials, NotFound, tooManyAttempts } from '../errors.js';
import type { SessionView } from '../plugins/sessions.js';
import { normalizeEmail } from '../stores/user-directory.js';

export const userSchema = {
  type: 'object',
  required: ['id', 'email', 'name', 'role'],
  properties: {
    id: { type: 'string' },
    email: { type: 'string' },
    name: { type: 'string' },
    role: { type: 'string', enum: ['user', 'admin'] },
  },
  additionalProperties: false,
} as const;

const errorRef = { $ref: 'ErrorBody#' } as const;
const dateTime = { type: 'string', format: 'date-time' } as const;

const sessionListItem = {
  type: 'object',
  required: ['id', 'createdAt', 'lastSeenAt', 'expiresAt', 'userAgent', 'ip', 'current'],
  properties: {
    id: { type: 'string', description: 'public handle; never usable as a cookie' },
    createdAt: dateTime,
    lastSeenAt: dateTime,
    expiresAt: dateTime,
    userAgent: { type: 'string' },
    ip: { type: 'string' },
    current: { type: 'boolean', description: 'true for the session making this request' },
  },
  additionalProperties: false,
} as const;

export default async function authRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: { email: string; password: string } }>(
    '/auth/login',
    {
      // Sign-in authenticates by password and replaces any presented session: Origin is checked, the
      // CSRF token is not (a signed-out page has none).
      config: { csrf: 'origin-only' },
      schema: {
        summary: 'Sign in with email and password; sets the session cookie',
        body: {
          type: 'object',
          required: ['email', 'password'],
          properties: {
            email: { type: 'string', minLength: 1, maxLength: 320 },
            password: { type: 'string', minLength: 1, maxLength: 1024 },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            required: ['user', 'csrfToken'],
            properties: { user: userSchema, csrfToken: { type: 'string' } },
            additionalProperties: false,
          },
          400: errorRef,
          401: errorRef,
          403: errorRef,
          429: errorRef,
          503: errorRef,
        },
      },
    },
    async (request, reply) => {
      const { email, password } = request.body;
      // The attempt is counted before the password hash is computed (plugins/attempt-limiter.ts).
      const result = await app.attemptLimiter.attempt(
        'login',
        normalizeEmail(email),
        clientAddress(request),
        () => app.users.verifyPassword(email, password),
      );
      if (result.outcome === 'rate_limited') {
        audit(request, 'sign_in_failed', {
          actorId: null,
          targetId: null,
          sessionId: null,
          reason: 'rate_limited',
        });
        app.metrics.login('rate_limited');
        throw tooManyAttempts(result.retryAfterSeconds);
      }
      if (result.outcome === 'invalid_credentials') {
        audit(request, 'sign_in_failed', {
          actorId: null,
          targetId: result.check.userId,
          sessionId: null,
          reason: result.check.reason,
        });
        app.metrics.login('invalid_credentials');
        throw new InvalidCredentials();
      }
      const { user, sessionVersion } = result.check;
      const session = await app.sessions.issue(request, reply, user, sessionVersion);
      app.metrics.login('success');
      audit(request, 'sign_in', { actorId: user.id, targetId: user.id, sessionId: session.id });
      return { user, csrfToken: session.csrfToken };
    },
  );

  app.post(
    '/auth/logout',
    {
      onRequest: app.requireSession,
      schema: {
        summary: 'Sign out: deletes this session and clears the cookie',
        response: { 204: { type: 'null' }, 401: errorRef, 403: errorRef, 503: errorRef },
      },
    },
    async (request, reply) => {
      const { id, userId } = request.session as SessionView;
      await app.sessions.end(request, reply);
      audit(request, 'sign_out', { actorId: userId, targetId: userId, sessionId: id });
      app.metrics.sessionsEnded('logout');
      return reply.code(204).send();
    },
  );

  app.post(
    '/auth/logout-all',
    {
      onRequest: app.requireSession,
      schema: {
        summary: 'Sign out everywhere: deletes every session of this user',
        response: { 204: { type: 'null' }, 401: errorRef, 403: errorRef, 503: errorRef },
      },
    },
    async (request, reply) => {
      const { id, userId } = request.session as SessionView;
      const ended = (await app.sessionStore.destroyAllForUser(userId, 'logout_all')).length;
      app.metrics.sessionsEnded('logout_all', ended);
      await app.sessions.end(request, reply);
      audit(request, 'sign_out_everywhere', {
        actorId: userId,
        targetId: userId,
        sessionId: id,
        sessionsEnded: ended,
      });
      return reply.code(204).send();
    },
  );

  app.get(
    '/auth/me',
    {
      onRequest: app.requireSession,
      schema: {
        summary: 'The signed-in user, this session, and the CSRF token for unsafe requests',
        response: {
          200: {
            type: 'object',
            required: ['user', 'session', 'csrfToken'],
            properties: {
              user: userSchema,
              session: {
                type: 'object',
                required: ['id', 'createdAt', 'lastSeenAt', 'expiresAt'],
                properties: {
                  id: { type: 'string' },
                  createdAt: dateTime,
                  lastSeenAt: dateTime,
                  expiresAt: dateTime,
                },
                additionalProperties: false,
              },
              csrfToken: { type: 'string' },
            },
            additionalProperties: false,
          },
          401: errorRef,
          503: errorRef,
        },
      },
    },
    async (request, reply) => {
      const session = request.session as SessionView;
      reply.header('cache-control', 'no-store');
      return {
        user: request.user,
        session: {
          id: session.id,
          createdAt: session.createdAt,
          lastSeenAt: session.lastSeenAt,
          expiresAt: session.expiresAt,
        },
        csrfToken: session.csrfToken,
      };
    },
  );

  app.get(
    '/auth/sessions',
    {
      onRequest: app.requireSession,
      schema: {
        summary: "The caller's live sessions (devices)",
        response: {
          200: {
            type: 'object',
            required: ['sessions'],
            properties: { sessions: { type: 'array', items: sessionListItem } },
            additionalProperties: false,
          },
          401: errorRef,
          503: errorRef,
        },
      },
    },
    async (request, reply) => {
      const current = request.session as SessionView;
      const records = await app.sessionStore.listForUser(current.userId);
      reply.header('cache-control', 'no-store');
      return {
        sessions: records.map((record) => {
          const view = app.sessions.toView(record);
          return {
            id: view.id,
            createdAt: view.createdAt,
            lastSeenAt: view.lastSeenAt,
            expiresAt: view.expiresAt,
            userAgent: view.userAgent,
            ip: view.ip,
            current: view.id === current.id,
          };
        }),
      };
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/auth/sessions/:id',
    {
      onRequest: app.requireSession,
      schema: {
        summary: "Revoke one of the caller's sessions by its public id",
        params: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'string', minLength: 1, maxLength: 100 } },
        },
        response: { 204: { type: 'null' }, 401: errorRef, 403: errorRef, 404: errorRef, 503: errorRef },
      },
    },
    async (request, reply) => {
      const current = request.session as SessionView;
      const deleted = await app.sessionStore.destroyByPublicId(current.userId, request.params.id, 'revoked');
      if (!deleted) throw new NotFound('no such session among yours');
      app.metrics.sessionsEnded('revoked');
      if (request.params.id === current.id) await app.sessions.end(request, reply);
      audit(request, 'session_revoked', {
        actorId: current.userId,
        targetId: current.userId,
        sessionId: current.id,
        targetSessionId: request.params.id,
      });
      return reply.code(204).send();
    },
  );
}
