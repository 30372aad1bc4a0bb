/** `GET`/`HEAD /v1/objects/<key>` and the path-token form `/v1/t/<token>/<key>` (CONTRACT.md, Media). */
import type { FastifyInstance, FastifySchema } from 'fastify';
import { authorizeRead, verifyRequestToken } from '../authenticate.js';
import { objectKeyOf, pathTokenAndKeyOf } from '../object-path.js';
import { serveObject } from '../serve-object.js';

const errors = Object.fromEntries(
  [400, 401, 403, 404, 412, 416, 502, 503].map((status) => [status, { $ref: 'ErrorBody#' }]),
);

const objectSchema: FastifySchema = {
  summary: 'Stream an object (one byte range, conditionals)',
  querystring: { type: 'object', properties: { token: { type: 'string' } } },
  headers: {
    type: 'object',
    properties: {
      range: { type: 'string' },
      'if-match': { type: 'string' },
      'if-unmodified-since': { type: 'string' },
      'if-none-match': { type: 'string' },
      'if-modified-since': { type: 'string' },
      'if-range': { type: 'string' },
    },
  },
  response: {
    200: { description: 'the whole object', type: 'string', format: 'binary' },
    206: { description: 'one byte range', type: 'string', format: 'binary' },
    304: { description: 'not modified', type: 'null' },
    ...errors,
  },
};

export default async function objectRoutes(app: FastifyInstance, opts: { now: () => number }): Promise<void> {
  const { now } = opts;
  app.route({
    method: ['GET', 'HEAD'],
    url: '/v1/objects/*',
    exposeHeadRoute: false,
    schema: objectSchema,
    handler: async (request, reply) => {
      const key = objectKeyOf(request, '/v1/objects/');
      const verified = await verifyRequestToken(request);
      authorizeRead(request, verified, key);
      if (verified.profile === 'media') app.revocations.admit(verified.claims.sid, reply.raw);
      return serveObject(request, reply, { key, expiresAt: verified.expiresAt, now });
    },
  });

  app.route({
    method: ['GET', 'HEAD'],
    url: '/v1/t/*',
    exposeHeadRoute: false,
    schema: {
      ...objectSchema,
      summary: 'Stream an object, the media token in the path (relative URLs in playlists)',
    },
    handler: async (request, reply) => {
      const { token, key } = pathTokenAndKeyOf(request, '/v1/t/');
      const verified = await verifyRequestToken(request, token);
      authorizeRead(request, verified, key);
      if (verified.profile === 'media') app.revocations.admit(verified.claims.sid, reply.raw);
      return serveObject(request, reply, { key, expiresAt: verified.expiresAt, now });
    },
  });
}
