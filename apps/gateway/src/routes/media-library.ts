/**
 * `GET /media/library` (session): the objects the caller may play — every prefix the entitlement policy
 * grants (`catalog/`, `users/<own id>/`) — listed from media's `GET /v1/catalog` with the gateway's own
 * service token. Media not answering within the client's bound (3 s) is 503 `media_unavailable`, never a
 * hung request. An HLS rendition is listed as one item, its master playlist (library/hls-renditions.ts).
 */
import { MediaClientError } from '@stagedoor/media-client/errors';
import type { FastifyInstance } from 'fastify';
import { MediaUnavailable, Unauthenticated } from '../errors.js';
import { groupHlsRenditions } from '../library/hls-renditions.js';
import { createMediaEntitlementPolicy, type MediaEntitlementPolicy } from '../policy/media-entitlement.js';

export interface MediaLibraryRoutesOptions {
  policy?: MediaEntitlementPolicy;
  /** Bound on the whole listing (every prefix, every page). */
  timeoutMs?: number;
}

export interface LibraryItem {
  key: string;
  title: string;
  contentType: string;
  size: number;
}

/** A person's title from a key's file name: `catalog/night_drive-01.mp3` → `night drive 01`. */
export function titleFromKey(key: string): string {
  const fileName = key.slice(key.lastIndexOf('/') + 1);
  const dot = fileName.lastIndexOf('.');
  const stem = dot > 0 ? fileName.slice(0, dot) : fileName;
  const title = stem.replace(/[_-]+/g, ' ').replace(/\s+/g, ' ').trim();
  return title === '' ? fileName : title;
}

export default async function mediaLibraryRoutes(
  app: FastifyInstance,
  options: MediaLibraryRoutesOptions,
): Promise<void> {
  const policy = options.policy ?? createMediaEntitlementPolicy();
  const timeoutMs = options.timeoutMs ?? 3000;
  app.get(
    '/media/library',
    {
      preHandler: app.requireSession,
      schema: {
        description: 'The media the caller may play: the catalog and the caller’s own items',
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: {
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['key', 'title', 'contentType', 'size'],
                  properties: {
                    key: { type: 'string' },
                    title: { type: 'string' },
                    contentType: { type: 'string' },
                    size: { type: 'integer' },
                  },
                  additionalProperties: false,
                },
              },
            },
            additionalProperties: false,
          },
          401: { $ref: 'ErrorBody#' },
          503: { $ref: 'ErrorBody#' },
        },
      },
    },
    async (request, reply) => {
      const user = request.user;
      if (user === null) throw new Unauthenticated();
      const prefixes = policy.prefixesFor({ userId: user.id, role: user.role });
      const signal = AbortSignal.timeout(timeoutMs);
      let listings: Awaited<ReturnType<typeof app.mediaClient.listAll>>[];
      try {
        listings = await Promise.all(
          prefixes.map((prefix) => app.mediaClient.listAll(prefix, { signal, timeoutMs })),
        );
      } catch (error) {
        if (!(error instanceof MediaClientError)) throw error;
        request.log.warn(
          { code: error.code, status: error.status, detail: error.message },
          'media listing failed',
        );
        throw new MediaUnavailable();
      }
      const items: LibraryItem[] = groupHlsRenditions(listings.flat(), prefixes).map((item) => ({
        key: item.key,
        // A rendition is named for its folder (`catalog/hls/night-drive/` → `night drive`), not `master`.
        title: titleFromKey(item.renditionFolder?.slice(0, -1) ?? item.key),
        contentType: item.contentType,
        size: item.size,
      }));
      reply.header('cache-control', 'private, no-store');
      return { items };
    },
  );
}
