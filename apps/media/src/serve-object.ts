/**
 * Answering GET and HEAD for one object (CONTRACT.md, Media): preconditions (judged in preconditions.ts),
 * one byte range, and a body streamed from storage to the client with backpressure. Storage only ever gets
 * an absolute range; what it answers is checked, and if a store ignored or stretched the range, media cuts
 * the exact bytes itself.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { NotFound, PreconditionFailed, RangeNotSatisfiable, StorageBadGateway } from './errors.js';
import type { ObjectMetadata } from './object-metadata-cache.js';
import type { StoreResponse } from './object-store.js';
import {
  conditionalsForStorage,
  evaluatePreconditions,
  normalizeEtag,
  type PreconditionOutcome,
  parseHttpDate,
  type RequestPreconditions,
  readPreconditions,
  type Validators,
} from './preconditions.js';
import { type ByteRange, parseRangeHeader, resolveRange } from './range.js';
import { describeStorageError, isAbort, isNoSuchKey, toStorageHttpError } from './storage-errors.js';
import { StorageResponseError } from './storage-http.js';

interface Representation {
  etag: string | undefined;
  lastModified: Date | undefined;
  contentType: string | undefined;
  size: number;
}

/** What one request needs besides the request itself: the object, the token's expiry, the clock. */
interface ServeContext {
  key: string;
  expiresAt: number;
  /** The server's clock in ms since the epoch (If-Modified-Since, Cache-Control); tests inject one. */
  now: () => number;
  signal: AbortSignal;
}

/** Status media logs for a request whose client left before the answer (nginx's convention). */
const CLIENT_CLOSED_REQUEST = 499;
/** Attempts when the object changes between the size lookup and the read, or If-Range says start over. */
const MAX_READ_ATTEMPTS = 3;

function judge(
  pre: RequestPreconditions,
  current: Validators,
  range: ByteRange | undefined,
  ctx: ServeContext,
): PreconditionOutcome {
  return evaluatePreconditions(pre, current, {
    now: new Date(ctx.now()),
    rangeRequested: range !== undefined,
  });
}

function cacheControl(ctx: ServeContext): string {
  // A cached copy must not outlive the token that fetched it.
  return `private, max-age=${Math.max(0, ctx.expiresAt - Math.floor(ctx.now() / 1000))}`;
}

function validatorHeaders(reply: FastifyReply, current: Validators, ctx: ServeContext) {
  reply.header('accept-ranges', 'bytes');
  reply.header('cache-control', cacheControl(ctx));
  if (current.etag) reply.header('etag', current.etag);
  if (current.lastModified) reply.header('last-modified', current.lastModified.toUTCString());
}

function notModified(reply: FastifyReply, current: Validators, ctx: ServeContext) {
  validatorHeaders(reply, current, ctx);
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

/**
 * Objects are served as data, never as documents of media's origin: `nosniff` keeps the browser to the
 * declared type, and every type but audio and video is sandboxed with nothing allowed. An audio or video
 * object opened in a tab becomes the browser's own media document (a `<video>` element playing the URL);
 * `sandbox` would stop it from playing, so those get `media-src 'self'` instead, which lets that element
 * load the object and nothing else (no script, no frame, no style).
 */
export function contentSecurityPolicy(contentType: string): string {
  const essence = contentType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return /^(audio|video)\/[^\s/]+$/.test(essence)
    ? "default-src 'none'; media-src 'self'"
    : "default-src 'none'; sandbox";
}

function objectHeaders(reply: FastifyReply, rep: Omit<Representation, 'size'>, ctx: ServeContext) {
  validatorHeaders(reply, rep, ctx);
  const contentType = rep.contentType ?? 'application/octet-stream';
  reply.header('content-type', contentType);
  reply.header('x-content-type-options', 'nosniff');
  reply.header('content-security-policy', contentSecurityPolicy(contentType));
}

async function serveHead(request: FastifyRequest, reply: FastifyReply, ctx: ServeContext) {
  const pre = readPreconditions(request.headers);
  const rep = await headObject(request, ctx.key, ctx.signal);
  const range = parseRangeHeader(request.headers.range);
  const outcome = judge(pre, rep, range, ctx);
  if (outcome === 'precondition-failed') throw new PreconditionFailed();
  if (outcome === 'not-modified') return notModified(reply, rep, ctx);
  objectHeaders(reply, rep, ctx);
  if (outcome === 'send-whole' || !range)
    return reply.code(200).header('content-length', String(rep.size)).send();
  const abs = resolveRange(range, rep.size);
  if (!abs) throw unsatisfiable(rep.size);
  return reply
    .code(206)
    .header('content-range', `bytes ${abs.start}-${abs.end}/${rep.size}`)
    .header('content-length', String(abs.end - abs.start + 1))
    .send();
}

/**
 * A range that selects nothing. The preconditions still come first (412, 304); a failed If-Range asks for
 * the whole object instead (undefined); otherwise 416.
 */
function answerUnsatisfiable(
  reply: FastifyReply,
  pre: RequestPreconditions,
  rep: Representation,
  range: ByteRange,
  ctx: ServeContext,
): FastifyReply | undefined {
  const outcome = judge(pre, rep, range, ctx);
  if (outcome === 'precondition-failed') throw new PreconditionFailed();
  if (outcome === 'not-modified') return notModified(reply, rep, ctx);
  if (outcome === 'send-range') throw unsatisfiable(rep.size);
  return undefined;
}

async function serveGet(request: FastifyRequest, reply: FastifyReply, ctx: ServeContext) {
  const { key, signal } = ctx;
  const { store, metadata } = request.server.storage;
  const pre = readPreconditions(request.headers);
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
        const answer = answerUnsatisfiable(reply, pre, known as Representation, range, ctx);
        if (answer) return answer;
        range = undefined;
        continue;
      }
      wanted = abs;
    } else if (range) {
      wanted = { start: range.start, end: range.end };
    }

    // 2. Read. If-None-Match and If-Modified-Since go to storage too, so a 304 costs no body; media judges
    //    every precondition again below, for stores that ignore them.
    let out: StoreResponse;
    try {
      out = await store.get(
        key,
        { range: wanted, ...conditionalsForStorage(pre, new Date(ctx.now())) },
        signal,
      );
    } catch (error) {
      if (error instanceof StorageResponseError && error.status === 416 && range) {
        const rep = await headObject(request, key, signal);
        if (resolveRange(range, rep.size)) continue; // it grew meanwhile
        const answer = answerUnsatisfiable(reply, pre, rep, range, ctx);
        if (answer) return answer;
        range = undefined;
        continue;
      }
      throw storageFailure(request, error);
    }

    const { body, status, headers } = out;
    const etag = normalizeEtag(headerValue(headers, 'etag'));
    const lastModified = parseHttpDate(headerValue(headers, 'last-modified'));
    if (status === 304) {
      // Storage judged If-None-Match / If-Modified-Since, which it is only sent when nothing before them
      // in RFC 9110's order is present.
      const noneMatch = pre.ifNoneMatch;
      const validator =
        etag ?? (Array.isArray(noneMatch) && noneMatch.length === 1 ? noneMatch[0] : undefined);
      return notModified(reply, { etag: validator, lastModified }, ctx);
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
    const outcome = judge(pre, { etag, lastModified }, range, ctx);
    if (outcome === 'precondition-failed') {
      body.destroy();
      throw new PreconditionFailed();
    }
    if (outcome === 'not-modified') {
      body.destroy();
      return notModified(reply, { etag, lastModified }, ctx);
    }
    if (range && outcome === 'send-whole') {
      // RFC 9110 §13.1.5: a validator that no longer matches means "send me the whole new object".
      body.destroy();
      range = undefined;
      continue;
    }

    const rep = { etag, lastModified, contentType: headerValue(headers, 'content-type') };
    if (!wanted) {
      objectHeaders(reply, rep, ctx);
      cutOffStalledClient(request, reply);
      request.server.metrics.streamStarted(reply, body);
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
    objectHeaders(reply, rep, ctx);
    cutOffStalledClient(request, reply);
    request.server.metrics.streamStarted(reply, stream);
    return reply
      .code(206)
      .header('content-range', `bytes ${abs.start}-${abs.end}/${size}`)
      .header('content-length', String(length))
      .send(stream);
  }
  throw new StorageBadGateway('the object kept changing while it was read');
}

/**
 * A body being sent holds a connection of storage's bounded pool, and a client that stops reading (a paused
 * player whose buffer is full) stops media reading storage without ending either: storage's idle timeout
 * is off meanwhile (storage-http.ts). So, as nginx's `send_timeout`, a client socket on which nothing has
 * been written or read for SEND_TIMEOUT_MS is closed, which ends the storage read and frees its connection;
 * a player that resumes asks again with a Range. A client that reads, however slowly, is never cut. Node
 * puts the socket back on its keep-alive timeout once the response is done.
 */
function cutOffStalledClient(request: FastifyRequest, reply: FastifyReply): void {
  reply.raw.setTimeout(request.server.storage.sendTimeoutMs, () => reply.raw.destroy());
}

/**
 * Serves one object. The token was checked when the request started; nothing here looks at it again except
 * for `expiresAt` in Cache-Control, so a response already streaming runs to its end.
 */
export async function serveObject(
  request: FastifyRequest,
  reply: FastifyReply,
  options: { key: string; expiresAt: number; now: () => number },
): Promise<FastifyReply> {
  // A client that leaves stops the storage request (and frees its pooled socket) even before the body
  // streams; once streaming, Fastify destroys the body stream, which ends the storage response.
  const abort = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableFinished) abort.abort();
  };
  reply.raw.once('close', onClose);
  try {
    const ctx: ServeContext = { ...options, signal: abort.signal };
    return request.method === 'HEAD'
      ? await serveHead(request, reply, ctx)
      : await serveGet(request, reply, ctx);
  } catch (error) {
    if (abort.signal.aborted && isAbort(error)) return reply.code(CLIENT_CLOSED_REQUEST).send();
    throw error;
  }
}
