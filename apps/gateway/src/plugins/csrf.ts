/**
 * CSRF and Origin checks for every unsafe method (POST, PUT, PATCH, DELETE), on every route, before the
 * body is read (CONTRACT.md, Gateway):
 * - an `Origin` header that is present and not an allowed origin (the gateway's own, plus CORS_ORIGINS)
 *   → 403 `csrf_failed`, sign-in included;
 * - a request authenticated by the session cookie must carry `X-CSRF-Token` equal to the session's token
 *   (compared in constant time) → else 403 `csrf_failed`.
 * A request that carries no valid session cookie is not cookie-authenticated, so it needs no token (a
 * service client on `/oauth/token`). A route that authenticates by other means even when a cookie is
 * present (sign-in, which issues a new session) opts out of the token with `config: { csrf: 'origin-only' }`.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { GatewayConfig } from '../config.js';
import { CsrfFailed } from '../errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `'origin-only'`: check Origin but not the CSRF token (the route does not use the session). */
    csrf?: 'origin-only';
  }
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function tokensEqual(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function csrfPlugin(app: FastifyInstance, opts: { config: GatewayConfig }): Promise<void> {
  const allowed = new Set(opts.config.allowedOrigins);
  // A callback hook, not an async one: it runs on every request, and a GET needs nothing from it.
  app.addHook('onRequest', (request, _reply, done) => {
    if (!UNSAFE.has(request.method)) return done();
    const origin = request.headers.origin;
    if (origin !== undefined && !allowed.has(origin)) {
      return done(new CsrfFailed('this origin may not send requests to the gateway'));
    }
    if (request.session === null || request.routeOptions.config.csrf === 'origin-only') return done();
    const given = request.headers['x-csrf-token'];
    if (typeof given !== 'string' || !tokensEqual(given, request.session.csrfToken)) {
      return done(new CsrfFailed('missing or wrong X-CSRF-Token header; get the token from GET /auth/me'));
    }
    done();
  });
}

export default fp(csrfPlugin, {
  name: 'stagedoor-csrf',
  fastify: '5.x',
  dependencies: ['stagedoor-sessions'],
});
