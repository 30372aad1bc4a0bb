/**
 * `GET /.well-known/jwks.json`: the public halves of every key that may still verify a live token.
 *
 * Caching: `max-age=60`. Media (jose's createRemoteJWKSet) refetches at once, at most every 30 s, when it
 * meets an unknown `kid`, and otherwise keeps its copy for its own cache age; a shared HTTP cache in
 * between may serve the old set for up to max-age. The rotation runbook waits longer than max-age plus
 * media's cache age between publishing a key and activating it, and between retiring a key and deleting
 * it, so one minute keeps every step short without making media fetch on every request.
 */
import type { FastifyInstance } from 'fastify';

export const JWKS_MAX_AGE_SECONDS = 60;

const jwkSchema = {
  type: 'object',
  required: ['kty', 'crv', 'x', 'kid', 'alg', 'use'],
  properties: {
    kty: { type: 'string' },
    crv: { type: 'string' },
    x: { type: 'string' },
    kid: { type: 'string' },
    alg: { type: 'string' },
    use: { type: 'string' },
  },
  // The response serializer drops anything else, so a private member can never leak through here.
  additionalProperties: false,
} as const;

export default async function jwksRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        description: 'Public keys that verify the tokens this gateway signs',
        response: {
          200: {
            type: 'object',
            required: ['keys'],
            properties: { keys: { type: 'array', items: jwkSchema } },
            additionalProperties: false,
          },
        },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
      return { keys: app.signingKeys.publicKeys() };
    },
  );
}
