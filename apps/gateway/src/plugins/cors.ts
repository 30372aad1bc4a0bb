/**
 * CORS for browser origins other than the gateway's own: an exact allowlist (the gateway's origins plus
 * CORS_ORIGINS, no patterns, never `*`) with credentials, so a listed front end can use the session
 * cookie and send `X-CSRF-Token`. Unlisted origins get no CORS headers; their unsafe requests are also
 * refused by the Origin check (`plugins/csrf.ts`).
 *
 * One callback hook instead of `@fastify/cors` (issue 15): with an allowlist it copied its whole options
 * object, built a resolver closure and re-parsed `Vary` on every request, signed-in reads included, to
 * end up doing what is below. The answers are the same: `Vary: Origin` on every response; for a listed
 * `Origin`, `Access-Control-Allow-Origin` (that origin), `-Allow-Credentials: true` and
 * `-Expose-Headers`; a preflight (`OPTIONS` from a listed origin) is answered 204 here, before any other
 * hook, with the allowed methods, headers and max-age, or 400 when it names no method; an `OPTIONS` from
 * an unlisted origin is the API's 404.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import type { GatewayConfig } from '../config.js';

const ALLOW_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';
const ALLOW_HEADERS = 'Content-Type, X-CSRF-Token, Authorization';
const EXPOSE_HEADERS = 'Retry-After';
const MAX_AGE_SECONDS = '600';

/** Adds `Origin` to the response's `Vary` (once), keeping whatever it already names. */
function varyOnOrigin(reply: FastifyReply): void {
  const vary = reply.getHeader('vary');
  if (vary === undefined) {
    reply.header('vary', 'Origin');
    return;
  }
  const names = String(vary);
  if (names === '*' || /(?:^|,)\s*origin\s*(?:,|$)/i.test(names)) return;
  reply.header('vary', `${names}, Origin`);
}

async function corsPlugin(app: FastifyInstance, opts: { config: GatewayConfig }): Promise<void> {
  const allowed = new Set(opts.config.allowedOrigins);
  app.addHook('onRequest', (request, reply, done) => {
    // The answer depends on Origin whether or not this request carries one (shared caches).
    varyOnOrigin(reply);
    const origin = request.headers.origin;
    if (origin === undefined || !allowed.has(origin)) return done();
    reply.header('access-control-allow-origin', origin);
    reply.header('access-control-allow-credentials', 'true');
    reply.header('access-control-expose-headers', EXPOSE_HEADERS);
    if (request.method !== 'OPTIONS') return done();
    if (request.headers['access-control-request-method'] === undefined) {
      reply.code(400).type('text/plain').send('Invalid Preflight Request');
      return;
    }
    reply.header('access-control-allow-methods', ALLOW_METHODS);
    reply.header('access-control-allow-headers', ALLOW_HEADERS);
    reply.header('access-control-max-age', MAX_AGE_SECONDS);
    reply.code(204).header('content-length', '0').send();
  });
}

export default fp(corsPlugin, { name: 'stagedoor-cors', fastify: '5.x' });
