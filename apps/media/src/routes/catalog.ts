/** `GET /v1/catalog?prefix=&cursor=&limit=` for service clients with `media:list` (CONTRACT.md, Media). */
import type { ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import { validateKeyPrefix, validateObjectKey } from '@stagedoor/shared/keys';
import type { FastifyInstance } from 'fastify';
import { authorizeService, verifyRequestToken } from '../authenticate.js';
import { contentTypeForKey } from '../content-types.js';
import { InvalidKey, InvalidRequest } from '../errors.js';
import { normalizeEtag } from '../preconditions.js';
import { describeStorageError, storageStatus, toStorageHttpError } from '../storage-errors.js';

interface CatalogQuery {
  prefix?: string;
  cursor?: string;
  limit?: number;
}

/**
 * The cursor wraps storage's continuation token with the prefix it belongs to, so a cursor cannot be
 * replayed against another prefix (where the store's token would mean something else or nothing).
 */
function encodeCursor(prefix: string, token: string): string {
  return Buffer.from(JSON.stringify({ p: prefix, t: token })).toString('base64url');
}

function decodeCursor(cursor: string, prefix: string): string {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
      p?: unknown;
      t?: unknown;
    };
    if (value.p === prefix && typeof value.t === 'string' && value.t.length > 0) return value.t;
  } catch {
    // falls through to the error below
  }
  throw new InvalidRequest('the cursor is not valid for this prefix');
}

const itemSchema = {
  type: 'object',
  required: ['key', 'size', 'contentType', 'etag', 'lastModified'],
  properties: {
    key: { type: 'string' },
    size: { type: 'integer' },
    contentType: { type: 'string' },
    etag: { type: 'string' },
    lastModified: { type: 'string', format: 'date-time' },
  },
} as const;

export default async function catalogRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Querystring: CatalogQuery }>(
    '/v1/catalog',
    {
      schema: {
        summary: 'List objects under a prefix, one page at a time',
        querystring: {
          type: 'object',
          properties: {
            prefix: { type: 'string', maxLength: 1025 },
            cursor: { type: 'string', maxLength: 4096 },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 1000 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['items', 'nextCursor'],
            properties: {
              items: { type: 'array', items: itemSchema },
              nextCursor: { type: ['string', 'null'] },
            },
          },
          ...Object.fromEntries([400, 401, 403, 502, 503].map((s) => [s, { $ref: 'ErrorBody#' }])),
        },
      },
    },
    async (request) => {
      const verified = await verifyRequestToken(request);
      authorizeService(request, verified, 'media:list');
      const prefix = request.query.prefix ?? '';
      if (prefix !== '') {
        const check = validateKeyPrefix(prefix);
        if (!check.ok) throw new InvalidKey(check.reason);
      }
      const continuationToken = request.query.cursor ? decodeCursor(request.query.cursor, prefix) : undefined;
      const { bucket } = app.storage;
      let page: ListObjectsV2CommandOutput;
      try {
        const { client, s3 } = await app.storage.sdk();
        page = await client.send(
          new s3.ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix || undefined,
            MaxKeys: request.query.limit ?? 1000,
            ContinuationToken: continuationToken,
          }),
        );
      } catch (error) {
        if (storageStatus(error) === 400 && continuationToken)
          throw new InvalidRequest('the cursor has expired');
        request.log.warn({ storage: describeStorageError(error) }, 'listing failed');
        throw toStorageHttpError(error);
      }
      const items = (page.Contents ?? []).flatMap((object) => {
        // Objects put there by other means under names media would refuse cannot be fetched: not listed.
        if (!object.Key || !validateObjectKey(object.Key).ok) return [];
        return [
          {
            key: object.Key,
            size: object.Size ?? 0,
            contentType: contentTypeForKey(object.Key),
            etag: normalizeEtag(object.ETag) ?? '',
            lastModified: (object.LastModified ?? new Date(0)).toISOString(),
          },
        ];
      });
      const next = page.IsTruncated ? page.NextContinuationToken : undefined;
      return { items, nextCursor: next ? encodeCursor(prefix, next) : null };
    },
  );
}
