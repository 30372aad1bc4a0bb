/**
 * Answering GET and HEAD for one object (CONTRACT.md, Media): conditionals, one byte range, and a body
 * streamed from storage to the client with backpressure. Storage only ever gets an absolute range; what it
 * answers is checked, and if a store ignored or stretched the range, media cuts the exact bytes itself.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { NotFound, RangeNotSatisfiable, StorageBadGateway } from './errors.js';
import type { ObjectMetadata } from './object-metadata-cache.js';
import type { StoreResponse } from './object-store.js';
import {
  type ByteRange,
  type EntityTagList,
  ifRangeMatches,
  noneMatchHits,
  normalizeEtag,
  notModifiedSince,
  parseEntityTagList,
  parseHttpDate,
  parseRangeHeader,
  resolveRange,
} from './range.js';
import { describeStorageError, isAbort, isNoSuchKey, toStorageHttpError } from './storage-errors.js';
import { StorageResponseError } from './storage-http.js';

interface Representation {
  etag: string | undefined;
  lastModified: Date | undefined;
  contentType: string | undefined;
  size: number;
}

interface Conditionals {
  noneMatch: EntityTagList | undefined;
  /** Ignored when If-None-Match is present (RFC 9110 §13.1.3). */
  modifiedSince: Date | undefined;
  ifRange: string | undefined;
}

/** Status media logs for a request whose client left before the answer (nginx's convention). */
const CLIENT_CLOSED_REQUEST = 499;
/** Attempts when the object changes between the size lookup and the read, or If-Range says start over. */
const MAX_READ_ATTEMPTS = 3;

function readConditionals(request: FastifyRequest): Conditionals {
  const noneMatch = parseEntityTagList(request.headers['if-none-match']);
  const ifRange = request.headers['if-range'];
  return {
    noneMatch,
    modifiedSince: noneMatch === undefined ? parseHttpDate(request.headers['if-modified-since']) : undefined,
    ifRange: typeof ifRange === 'string' ? ifRange : undefined,
  };
}

function isNotModified(
  cond: Conditionals,
  etag: string | undefined,
  lastModified: Date | undefined,
): boolean {
  if (cond.noneMatch !== undefined) return noneMatchHits(cond.noneMatch, etag);
  return cond.modifiedSince !== undefined && notModifiedSince(lastModified, cond.modifiedSince);
}

function cacheControl(expiresAt: number): string {
  // A cached copy must not outlive the token that fetched it.
  return `private, max-age=${Math.max(0, expiresAt - Math.floor(Date.now() / 1000))}`;
}

function validatorHeaders(
  reply: FastifyReply,
  etag: string | undefined,
  lastModified: Date | undefined,
  expiresAt: number,
) {
  reply.header('accept-ranges', 'bytes');
  reply.header('cache-control', cacheControl(expiresAt));
  if (etag) reply.header('etag', etag);
  if (lastModified) reply.header('last-modified', lastModified.toUTCString());
}

function notModified(
  reply: FastifyReply,
  etag: string | undefined,
  lastModified: Date | undefined,
  expiresAt: number,
) {
  validatorHeaders(reply, etag, lastModified, expiresAt);
  return reply.code(304).send();
}

function unsatisfiable(size: number): Error {
  return Object.assign(new RangeNotSatisfiable(), { headers: { 'content-range': `bytes */${size}` } });
}

function parseContentRange(
  value: string | undefined,
): { start: number; end: number; size: number } | undefined {
  const match = value ? /^bytes (\d+)-(\d+)\/(\d+)$/.exec(value.trim()) : null;
  if (!match) return undefined;
  return { start: Number(match[1]), end: Number(match[2]), size: Number(match[3]) };
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

/** A byte count from a header, or undefined if it is not one. */
function byteCount(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,16}$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

async function headObject(
  request: FastifyRequest,
  key: string,
  signal: AbortSignal,
): Promise<Representation> {
  const { store, metadata } = request.server.storage;
  try {
    const { headers } = await store.head(key, signal);
    const size = byteCount(headerValue(headers, 'content-length'));
    if (size === undefined) throw new StorageBadGateway('storage answered without a size');
    const rep = {
      etag: normalizeEtag(headerValue(headers, 'etag')),
      lastModified: parseHttpDate(headerValue(headers, 'last-modified')),
      contentType: headerValue(headers, 'content-type'),
      size,
    };
    if (rep.etag) metadata.set(key, { etag: rep.etag, size: rep.size });
    return rep;
  } catch (error) {
    throw storageFailure(request, error);
  }
}

function storageFailure(request: FastifyRequest, error: unknown): unknown {
  if (isNoSuchKey(error)) return new NotFound('no such object');
  if (isAbort(error) || error instanceof StorageBadGateway) return error;
  request.log.warn({ storage: describeStorageError(error) }, 'storage request failed');
  return toStorageHttpError(error);
}

function objectHeaders(reply: FastifyReply, rep: Omit<Representation, 'size'>, expiresAt: number) {
  validatorHeaders(reply, rep.etag, rep.lastModified, expiresAt);
  reply.header('content-type', rep.contentType ?? 'application/octet-stream');
  // Objects are served as data, never as documents of media's origin.
  reply.header('x-content-type-options', 'nosniff');
  reply.header('content-security-policy', "default-src 'none'; sandbox");
}

async function serveHead(
  request: FastifyRequest,
  reply: FastifyReply,
  key: string,
  expiresAt: number,
  signal: AbortSignal,
) {
  const cond = readConditionals(request);
  const rep = await headObject(request, key, signal);
  if (isNotModified(cond, rep.etag, rep.lastModified))
    return notModified(reply, rep.etag, rep.lastModified, expiresAt);
  const range = parseRangeHeader(request.headers.range);
  const applies = range !== undefined && (cond.ifRange === undefined || ifRangeMatches(cond.ifRange, rep));
  objectHeaders(reply, rep, expiresAt);
  if (!applies) return reply.code(200).header('content-length', String(rep.size)).send();
  const abs = resolveRange(range, rep.size);
  if (!abs) throw unsatisfiable(rep.size);
  return reply
    .code(206)
    .header('content-range', `bytes ${abs.start}-${abs.end}/${rep.size}`)
    .header('content-length', String(abs.end - abs.start + 1))
    .send();
}

async function serveGet(
  request: FastifyRequest,
  reply: FastifyReply,
  key: string,
  expiresAt: number,
  signal: AbortSignal,
) {
  const { store, metadata } = request.server.storage;
  const cond = readConditionals(request);
  let range: ByteRange | undefined = parseRangeHeader(request.headers.range);

  for (let attempt = 0; attempt < MAX_READ_ATTEMPTS; attempt++) {
    // 1. The absolute range to ask for. A suffix needs the size: from the cache if we have it (checked
    //    against the ETag of the answer below), else from a HEAD.
    let wanted: { start: number; end: number | undefined } | undefined;
    let sizeFrom: { etag: string | undefined; size: number } | undefined;
    if (range?.kind === 'suffix') {
      const cached: ObjectMetadata | undefined = metadata.get(key);
      const known = cached ?? (await headObject(request, key, signal));
      sizeFrom = known;
      const abs = resolveRange(range, known.size);
      if (!abs) {
        if (cached) {
          metadata.delete(key);
          continue;
        }
        const rep = known as Representation;
        if (isNotModified(cond, rep.etag, rep.lastModified))
          return notModified(reply, rep.etag, rep.lastModified, expiresAt);
        throw unsatisfiable(rep.size);
      }
      wanted = abs;
    } else if (range) {
      wanted = { start: range.start, end: range.end };
    }

    // 2. Read. Conditionals go to storage too, so a 304 costs no body; media re-checks them below for
    //    stores that ignore them.
    let out: StoreResponse;
    try {
      out = await store.get(
        key,
        {
          range: wanted,
          ifNoneMatch:
            cond.noneMatch === undefined
              ? undefined
              : cond.noneMatch === '*'
                ? '*'
                : cond.noneMatch.join(', '),
          ifModifiedSince: cond.modifiedSince,
        },
        signal,
      );
    } catch (error) {
      if (error instanceof StorageResponseError && error.status === 416 && range) {
        const rep = await headObject(request, key, signal);
        if (resolveRange(range, rep.size)) continue; // it grew meanwhile
        if (isNotModified(cond, rep.etag, rep.lastModified))
          return notModified(reply, rep.etag, rep.lastModified, expiresAt);
        throw unsatisfiable(rep.size);
      }
      throw storageFailure(request, error);
    }

    const { body, status, headers } = out;
    const etag = normalizeEtag(headerValue(headers, 'etag'));
    const lastModified = parseHttpDate(headerValue(headers, 'last-modified'));
    if (status === 304) {
      const validator =
        etag ??
        (Array.isArray(cond.noneMatch) && cond.noneMatch.length === 1 ? cond.noneMatch[0] : undefined);
      return notModified(reply, validator, lastModified, expiresAt);
    }
    const answered = status === 206 ? parseContentRange(headerValue(headers, 'content-range')) : undefined;
    const size = status === 206 ? answered?.size : byteCount(headerValue(headers, 'content-length'));
    if (size === undefined || (status !== 200 && status !== 206)) {
      body.destroy();
      throw new StorageBadGateway('storage answered an unexpected response');
    }
    if (etag) metadata.set(key, { etag, size });
    if (sizeFrom && (sizeFrom.etag !== etag || sizeFrom.size !== size)) {
      // The object changed since we learnt its size: the suffix we asked for may be wrong. Start over.
      body.destroy();
      metadata.delete(key);
      continue;
    }
    if (isNotModified(cond, etag, lastModified)) {
      body.destroy();
      return notModified(reply, etag, lastModified, expiresAt);
    }
    if (range && cond.ifRange !== undefined && !ifRangeMatches(cond.ifRange, { etag, lastModified })) {
      // RFC 9110 §13.1.5: a validator that no longer matches means "send me the whole new object".
      body.destroy();
      range = undefined;
      continue;
    }

    const rep = { etag, lastModified, contentType: headerValue(headers, 'content-type') };
    if (!wanted) {
      objectHeaders(reply, rep, expiresAt);
      return reply.code(200).header('content-length', String(size)).send(body);
    }
    const abs = resolveRange({ kind: 'from', start: wanted.start, end: wanted.end }, size);
    if (!abs) {
      body.destroy();
      throw unsatisfiable(size);
    }
    const bodyStart = answered?.start ?? 0;
    const bodyEnd = answered?.end ?? size - 1;
    if (bodyStart > abs.start || bodyEnd < abs.end) {
      body.destroy();
      throw new StorageBadGateway('storage answered a different range');
    }
    const length = abs.end - abs.start + 1;
    // A store that answered more than was asked (s3rver): only the asked bytes go out, the rest is not read.
    const stream =
      bodyStart === abs.start && bodyEnd === abs.end ? body : body.window(abs.start - bodyStart, length);
    objectHeaders(reply, rep, expiresAt);
    return reply
      .code(206)
      .header('content-range', `bytes ${abs.start}-${abs.end}/${size}`)
      .header('content-length', String(length))
      .send(stream);
  }
  throw new StorageBadGateway('the object kept changing while it was read');
}

/**
 * Serves one object. The token was checked when the request started; nothing here looks at it again except
 * for `expiresAt` in Cache-Control, so a response already streaming runs to its end.
 */
export async function serveObject(
  request: FastifyRequest,
  reply: FastifyReply,
  options: { key: string; expiresAt: number },
): Promise<FastifyReply> {
  // A client that leaves stops the storage request (and frees its pooled socket) even before the body
  // streams; once streaming, Fastify destroys the body stream, which ends the storage response.
  const abort = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableFinished) abort.abort();
  };
  reply.raw.once('close', onClose);
  try {
    return request.method === 'HEAD'
      ? await serveHead(request, reply, options.key, options.expiresAt, abort.signal)
      : await serveGet(request, reply, options.key, options.expiresAt, abort.signal);
  } catch (error) {
    if (abort.signal.aborted && isAbort(error)) return reply.code(CLIENT_CLOSED_REQUEST).send();
    throw error;
  }
}
