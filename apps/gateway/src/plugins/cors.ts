/**
 * CORS for browser origins other than the gateway's own: an exact allowlist (the gateway's origins plus
 * CORS_ORIGINS, no patterns, never `*`) with credentials, so a listed front end can use the session
 * cookie and send `X-CSRF-Token`. Unlisted origins get no CORS headers; their unsafe requests are also
 * refused by the Origin check (`plugins/csrf.ts`).
 */
import fastifyCors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { GatewayConfig } from '../config.js';

async function corsPlugin(app: FastifyInstance, opts: { config: GatewayConfig }): Promise<void> {
  const allowed = new Set(opts.config.allowedOrigins);
  await app.register(fastifyCors, {
    origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin)),
    credentials: true,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['Content-Type', 'X-CSRF-Token', 'Authorization'],
    exposedHeaders: ['Retry-After'],
    maxAge: 600,
  });
}

export default fp(corsPlugin, { name: 'stagedoor-cors', fastify: '5.x' });
