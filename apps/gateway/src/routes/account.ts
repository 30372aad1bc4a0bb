/**
 * A person's own account (CONTRACT.md, Accounts): `POST /auth/password` changes the caller's password.
 *
 * The current password is checked under the failed sign-in limits, counted before its hash is computed
 * on the same counters as `/auth/login`: both answer the same question about the same secret, so a stolen session
 * gets no second budget of guesses. On success the new password is hashed with the current Argon2id
 * parameters and stored together with an increment of the user's session version (so no session issued
 * before is accepted again, including one a racing sign-in creates later), every session of the user is
 * ended through the session store, and this request gets a new session: new cookie, new public id, new
 * CSRF token (the page reads it from `GET /auth/me`).
 */
import type { FastifyInstance } from 'fastify';
import { audit } from '../audit.js';
import { clientAddress } from '../client-address.js';
import { InvalidCredentials, tooManyAttempts, Unauthenticated } from '../errors.js';
import type { SessionView } from '../plugins/sessions.js';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../plugins/users.js';
import { normalizeEmail, type PublicUser } from '../stores/user-directory.js';

const errorRef = { $ref: 'ErrorBody#' } as const;

export default async function accountRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: { currentPassword: string; newPassword: string } }>(
    '/auth/password',
    {
      onRequest: app.requireSession,
      schema: {
        summary:
          "Change the caller's password: ends every other session of theirs and gives this one a new id and cookie",
        body: {
          type: 'object',
          required: ['currentPassword', 'newPassword'],
          properties: {
            currentPassword: { type: 'string', minLength: 1, maxLength: 1024 },
            newPassword: {
              type: 'string',
              minLength: PASSWORD_MIN_LENGTH,
              maxLength: PASSWORD_MAX_LENGTH,
              description: `${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters (code points)`,
            },
          },
          additionalProperties: false,
        },
        response: {
          204: { type: 'null' },
          400: errorRef,
          401: errorRef,
          403: errorRef,
          429: errorRef,
          503: errorRef,
        },
      },
    },
    async (request, reply) => {
      const session = request.session as SessionView;
      const user = request.user as PublicUser;
      const { currentPassword, newPassword } = request.body;
      const failed = (reason: 'rate_limited' | 'wrong_password' | 'disabled' | 'unknown_user') =>
        audit(request, 'password_change_failed', {
          actorId: user.id,
          targetId: user.id,
          sessionId: session.id,
          reason,
        });
      // Counted before the hash is computed, on the sign-in counters (plugins/attempt-limiter.ts).
      const result = await app.attemptLimiter.attempt(
        'login',
        normalizeEmail(user.email),
        clientAddress(request),
        () => app.users.verifyPasswordOf(user.id, currentPassword),
      );
      if (result.outcome === 'rate_limited') {
        failed('rate_limited');
        throw tooManyAttempts(result.retryAfterSeconds);
      }
      if (result.outcome === 'invalid_credentials') {
        failed(result.check.reason);
        throw new InvalidCredentials();
      }
      const checked = result.check;
      const sessionVersion = await app.users.setPassword(user.id, newPassword);
      // Deleted meanwhile (or by an administrator): nobody is left to change the password of.
      if (sessionVersion === null) throw new Unauthenticated();
      const ended = (await app.sessionStore.destroyAllForUser(user.id, 'password_changed')).length;
      const rotated = await app.sessions.issue(request, reply, checked.user, sessionVersion);
      // The caller's own session goes on under a new id: only the others ended.
      app.metrics.sessionsEnded('password_changed', ended - 1);
      audit(request, 'password_changed', {
        actorId: user.id,
        targetId: user.id,
        sessionId: session.id,
        newSessionId: rotated.id,
        sessionsEnded: ended,
      });
      reply.header('cache-control', 'no-store');
      return reply.code(204).send();
    },
  );
}
