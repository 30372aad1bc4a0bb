/**
 * `PUT /v1/objects/<key>` for service clients with `media:write` (CONTRACT.md, Media). The body streams to
 * storage through lib-storage's Upload: one PutObject for small bodies, multipart for large ones, memory
 * bounded by part size × queue size. An object appears only when complete: a body over the limit or a
 * client that leaves mid-way makes the upload fail, and a failed multipart upload is aborted before the
 * answer, so nothing half-written is ever visible.
 */
import { Transform } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { authorizeService, verifyRequestToken } from '../authenticate.js';
import type { MediaConfig } from '../config.js';
import { contentTypeForKey } from '../content-types.js';
import { InvalidRequest, PayloadTooLarge } from '../errors.js';
import { objectKeyOf } from '../object-path.js';
import { normalizeEtag } from '../preconditions.js';
import { describeStorageError, toStorageHttpError } from '../storage-errors.js';

class ClientWentAway extends Error {}

/** Counts bytes on their way to storage and fails the stream once there are more than `limit`. */
function byteLimit(limit: number): Transform & { bytes: number } {
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      counter.bytes += chunk.length;
      if (counter.bytes > limit) callback(new PayloadTooLarge());
      else callback(null, chunk);
    },
  }) as Transform & { bytes: number };
  counter.bytes = 0;
  return counter;
}

export default async function uploadRoutes(
  app: FastifyInstance,
  opts: { config: MediaConfig },
): Promise<void> {
  const { maxUploadBytes, upload: uploadConfig } = opts.config;
  // Whatever the Content-Type, the body is left unread for the handler to stream (never parsed, never buffered).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  app.put(
    '/v1/objects/*',
    {
      schema: {
        summary: 'Store an object, the body streamed to storage',
        response: {
          201: {
            type: 'object',
            required: ['key', 'size', 'etag'],
            properties: { key: { type: 'string' }, size: { type: 'integer' }, etag: { type: 'string' } },
          },
          ...Object.fromEntries([400, 401, 403, 411, 413, 502, 503].map((s) => [s, { $ref: 'ErrorBody#' }])),
        },
      },
    },
    async (request, reply) => {
      const key = objectKeyOf(request, '/v1/objects/');
      const verified = await verifyRequestToken(request);
      authorizeService(request, verified, 'media:write');
      const declared = request.headers['content-length'];
      if (declared !== undefined) {
        const length = Number(declared);
        if (!Number.isSafeInteger(length) || length < 0)
          throw new InvalidRequest('Content-Length is not valid');
        // Refused before a byte is read; closing the connection spares reading a body nobody wants.
        if (length > maxUploadBytes) {
          reply.header('connection', 'close');
          throw new PayloadTooLarge();
        }
      }
      const contentType = request.headers['content-type'] ?? contentTypeForKey(key);
      const counter = byteLimit(maxUploadBytes);
      // pipe(), not pipeline(): a refused body must not destroy the request's socket before the 413 is sent
      // (the answer carries Connection: close instead).
      request.raw.pipe(counter);
      // Whether the client left is recorded when it happens. `request.raw.destroyed` cannot tell: Node
      // also destroys a request whose body was read to the end, so a storage failure after the whole
      // body arrived would pass for a departed client and get an empty 499 instead of the contract's 502/503.
      let clientLeft = false;
      const clientWentAway = () => {
        clientLeft = true;
        if (!counter.destroyed) counter.destroy(new ClientWentAway('client went away'));
      };
      request.raw.once('error', clientWentAway);
      const onClose = () => {
        if (!reply.raw.writableFinished) clientWentAway();
      };
      reply.raw.once('close', onClose);
      request.raw.once('aborted', onClose);

      const { client, Upload } = await app.storage.sdk();
      const upload = new Upload({
        client,
        params: { Bucket: app.storage.bucket, Key: key, Body: counter, ContentType: contentType },
        partSize: uploadConfig.partBytes,
        queueSize: uploadConfig.queueSize,
        leavePartsOnError: false,
      });
      try {
        const result = await upload.done();
        // Some stores (Ceph RGW) leave the ETag out of CompleteMultipartUpload's answer: ask for it.
        const etag =
          normalizeEtag(result.ETag) ??
          normalizeEtag(
            (await app.storage.store.head(key, AbortSignal.timeout(opts.config.s3.requestTimeoutMs))).headers
              .etag,
          );
        return reply.code(201).send({ key, size: counter.bytes, etag: etag ?? '' });
      } catch (error) {
        if (error instanceof PayloadTooLarge || counter.errored instanceof PayloadTooLarge) {
          reply.header('connection', 'close');
          throw new PayloadTooLarge();
        }
        if (clientLeft || error instanceof ClientWentAway || counter.errored instanceof ClientWentAway) {
          // Nobody reads this answer; 499 (nginx's "client closed request") is for the access log. By now
          // lib-storage has aborted any multipart upload it began (leavePartsOnError: false).
          request.log.info({ bodyBytes: counter.bytes }, 'upload abandoned: the client went away');
          return (reply as FastifyReply).code(499).send();
        }
        request.log.warn(
          { storage: describeStorageError(error), bodyBytes: counter.bytes },
          'upload failed: storage did not store the object',
        );
        throw toStorageHttpError(error);
      } finally {
        reply.raw.off('close', onClose);
      }
    },
  );
}
