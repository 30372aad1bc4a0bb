/**
 * Headers every media response carries (CONTRACT.md, Media): `Referrer-Policy: no-referrer` (a token in a
 * URL must never travel on in a Referer), `X-Content-Type-Options: nosniff`, and CORS for the allowed
 * origins only, on errors too so that a player can read why it was refused.
 */
import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { MediaConfig } from '../config.js';

export default fp(
  async (app: FastifyInstance, opts: { config: MediaConfig }) => {
    app.addHook('onRequest', async (_request, reply) => {
      reply.header('referrer-policy', 'no-referrer');
      reply.header('x-content-type-options', 'nosniff');
    });
    await app.register(cors, {
      origin: opts.config.corsOrigins,
      methods: ['GET', 'HEAD'],
      allowedHeaders: ['Authorization', 'Range', 'If-None-Match', 'If-Modified-Since', 'If-Range'],
      exposedHeaders: ['Content-Range', 'Content-Length', 'Accept-Ranges', 'ETag'],
      credentials: false,
      maxAge: 600,
    });
  },
  { name: 'http-policy', fastify: '5.x' },
);
