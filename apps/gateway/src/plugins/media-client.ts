/**
 * `app.mediaClient`: the typed client for media's service API, authenticated with service tokens the
 * gateway mints for itself (client id `gateway`, scope `media:list`) with its active signing key — the
 * same tokens `/oauth/token` would issue, without an HTTP round-trip to itself. Tokens are cached and
 * renewed 30 s before they expire; a 401 from media (e.g. right after a key retirement) renews at once.
 */
import { MediaClient } from '@stagedoor/media-client';
import { cachedTokenSource } from '@stagedoor/media-client/token-source';
import { MAX_SERVICE_TOKEN_TTL_SECONDS } from '@stagedoor/shared/tokens';
import { mintServiceToken } from '@stagedoor/shared/tokens/mint';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { GatewayConfig } from '../config.js';
import { GATEWAY_CLIENT_ID } from './service-clients.js';

declare module 'fastify' {
  interface FastifyInstance {
    mediaClient: MediaClient;
  }
}

/** Bound on every call to media, token included. */
export const MEDIA_CALL_TIMEOUT_MS = 3000;

export const GATEWAY_SERVICE_SCOPE = 'media:list';

async function mediaClientPlugin(app: FastifyInstance, options: { config: GatewayConfig }): Promise<void> {
  const tokens = cachedTokenSource(async () => {
    const minted = await mintServiceToken({
      key: app.signingKeys.active(),
      issuer: app.signingKeys.issuer,
      clientId: GATEWAY_CLIENT_ID,
      scope: GATEWAY_SERVICE_SCOPE,
      ttlSeconds: MAX_SERVICE_TOKEN_TTL_SECONDS,
    });
    return { token: minted.token, expiresAt: minted.expiresAt };
  });
  app.decorate(
    'mediaClient',
    new MediaClient({ baseUrl: options.config.mediaInternalUrl, tokens, timeoutMs: MEDIA_CALL_TIMEOUT_MS }),
  );
}

export default fp(mediaClientPlugin, {
  name: 'media-client',
  fastify: '5.x',
  dependencies: ['signing-keys'],
});
