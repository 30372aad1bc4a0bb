/**
 * `POST /media/tokens` `{"key"}` or `{"prefix"}` (session + CSRF): a media token for what the caller is
 * entitled to (policy/media-entitlement.ts), and the media URL that carries it.
 *
 * Revocation: the session is looked up in the store on every request, so once it is signed out, revoked
 * or expired no new token is minted. Tokens already minted are not recalled — media knows nothing of
 * sessions — and stop working when they expire, at most MEDIA_TOKEN_TTL_SECONDS (default 300) after
 * they were minted.
 */
import { encodeKeyPath, validateKeyPrefix, validateObjectKey } from '@stagedoor/shared/keys';
import type { MediaGrant } from '@stagedoor/shared/tokens';
import { mintMediaToken } from '@stagedoor/shared/tokens/mint';
import type { FastifyInstance } from 'fastify';
import type { GatewayConfig } from '../config.js';
import { Forbidden, InvalidKey, InvalidRequest, Unauthenticated } from '../errors.js';
import { createMediaEntitlementPolicy, type MediaEntitlementPolicy } from '../policy/media-entitlement.js';

export interface MediaTokenRoutesOptions {
  /** Reads mediaPublicUrl (the base of the URLs handed to browsers) and mediaTokenTtlSeconds. */
  config: Pick<GatewayConfig, 'mediaPublicUrl' | 'mediaTokenTtlSeconds'>;
  policy?: MediaEntitlementPolicy;
}

interface MediaTokenBody {
  key?: string;
  prefix?: string;
}

/** `<base>/<path>` where the base may carry a path of its own (a media behind a path prefix). */
export function mediaUrl(base: URL, path: string): string {
  return `${base.href.replace(/\/+$/, '')}/${path}`;
}

export default async function mediaTokenRoutes(
  app: FastifyInstance,
  options: MediaTokenRoutesOptions,
): Promise<void> {
  const policy = options.policy ?? createMediaEntitlementPolicy();
  app.post<{ Body: MediaTokenBody }>(
    '/media/tokens',
    {
      preHandler: app.requireSession,
      schema: {
        description: 'Mint a media token for one key or one prefix the caller is entitled to',
        body: {
          type: 'object',
          properties: {
            key: { type: 'string', description: 'an exact object key' },
            prefix: { type: 'string', description: 'a key prefix ending in "/"' },
          },
          additionalProperties: false,
        },
        response: {
          201: {
            type: 'object',
            required: ['token', 'url', 'expiresAt'],
            properties: {
              token: { type: 'string' },
              url: { type: 'string' },
              expiresAt: { type: 'string', format: 'date-time' },
            },
            additionalProperties: false,
          },
          400: { $ref: 'ErrorBody#' },
          401: { $ref: 'ErrorBody#' },
          403: { $ref: 'ErrorBody#' },
        },
      },
    },
    async (request, reply) => {
      const session = request.session;
      const user = request.user;
      if (session === null || user === null) throw new Unauthenticated();
      const { key, prefix } = request.body ?? {};
      if ((key === undefined) === (prefix === undefined)) {
        throw new InvalidRequest('send exactly one of "key" or "prefix"');
      }
      let grant: MediaGrant;
      if (key !== undefined) {
        const check = validateObjectKey(key);
        if (!check.ok) throw new InvalidKey(check.reason);
        grant = { kind: 'key', key: check.key };
      } else {
        const check = validateKeyPrefix(prefix);
        if (!check.ok) throw new InvalidKey(check.reason);
        grant = { kind: 'prefix', prefix: check.key };
      }
      const rule = policy.allows({ userId: user.id, role: user.role }, grant);
      if (rule === null) throw new Forbidden('you are not entitled to this media');
      const minted = await mintMediaToken({
        key: app.signingKeys.active(),
        issuer: app.signingKeys.issuer,
        subject: user.id,
        sid: session.id,
        grant,
        ttlSeconds: options.config.mediaTokenTtlSeconds,
      });
      const url =
        grant.kind === 'key'
          ? mediaUrl(
              options.config.mediaPublicUrl,
              `v1/objects/${encodeKeyPath(grant.key)}?token=${minted.token}`,
            )
          : mediaUrl(options.config.mediaPublicUrl, `v1/t/${minted.token}/${encodeKeyPath(grant.prefix)}`);
      app.metrics.mediaTokenMinted();
      request.log.info({ jti: minted.jti, rule: rule.name, kind: grant.kind }, 'media token minted');
      reply.code(201).header('cache-control', 'no-store');
      return { token: minted.token, url, expiresAt: new Date(minted.expiresAt * 1000).toISOString() };
    },
  );
}
