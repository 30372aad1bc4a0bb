/**
 * The one error-to-JSON mapping both apps install: every error body is `{"error","message"}` with a
 * contract code, and nothing else (no stack, no internals). Errors built with `@fastify/error` carry
 * their contract code as `code`; Fastify's own validation and body-parser errors become `invalid_request`.
 */
import { ErrorCode } from './errors.js';

interface MaybeHttpError {
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
  validation?: unknown;
  validationContext?: unknown;
}

const CONTRACT_CODES = new Set<string>(Object.values(ErrorCode));

const FASTIFY_CLIENT_ERRORS: Record<string, string> = {
  FST_ERR_CTP_EMPTY_JSON_BODY: 'the request body is empty; send a JSON object',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported Content-Type; send application/json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'the request body is too large',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'Content-Length does not match the body',
  FST_ERR_CTP_INVALID_JSON_BODY: 'the request body is not valid JSON',
  FST_ERR_BAD_URL: 'the URL is not correctly percent-encoded',
};

export interface MappedError {
  statusCode: number;
  body: { error: string; message: string };
}

export function mapErrorToResponse(error: unknown): MappedError {
  const e = (error ?? {}) as MaybeHttpError;
  const status =
    typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 600 ? e.statusCode : 500;
  const raw = typeof e.code === 'string' ? e.code : '';
  // @fastify/error upper-cases every code; the contract's codes are lower-case.
  const code = CONTRACT_CODES.has(raw.toLowerCase()) ? raw.toLowerCase() : raw;
  if (e.validation !== undefined) {
    const where = typeof e.validationContext === 'string' ? e.validationContext : 'request';
    const detail =
      typeof e.message === 'string' ? e.message.replace(/^(body|querystring|params|headers)\/?/, '') : '';
    return {
      statusCode: 400,
      body: { error: ErrorCode.invalidRequest, message: `invalid ${where}: ${detail}`.trim() },
    };
  }
  if (CONTRACT_CODES.has(code) && status < 500) {
    return { statusCode: status, body: { error: code, message: String(e.message ?? code) } };
  }
  if (CONTRACT_CODES.has(code) && (status === 502 || status === 503 || status === 504)) {
    return { statusCode: status, body: { error: code, message: String(e.message ?? code) } };
  }
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return {
      statusCode: 413,
      body: { error: ErrorCode.payloadTooLarge, message: 'the request body is too large' },
    };
  }
  const known = FASTIFY_CLIENT_ERRORS[code];
  if (known !== undefined)
    return { statusCode: 400, body: { error: ErrorCode.invalidRequest, message: known } };
  if (status < 500) {
    if (status === 400 && code.startsWith('FST_')) {
      return {
        statusCode: 400,
        body: { error: ErrorCode.invalidRequest, message: 'the request is malformed' },
      };
    }
    if (status === 404) return { statusCode: 404, body: { error: ErrorCode.notFound, message: 'not found' } };
    if (status === 405) {
      return { statusCode: 405, body: { error: ErrorCode.methodNotAllowed, message: 'method not allowed' } };
    }
    return {
      statusCode: status,
      body: { error: ErrorCode.invalidRequest, message: 'the request is malformed' },
    };
  }
  return {
    statusCode: 500,
    body: { error: ErrorCode.internal, message: 'something went wrong on our side' },
  };
}

/** Minimal shapes of Fastify's request and reply, so this package needs no runtime Fastify. */
interface ReplyLike {
  header(name: string, value: string): ReplyLike;
  headers(values: Record<string, string>): ReplyLike;
  removeHeader(name: string): ReplyLike;
  code(status: number): ReplyLike;
  send(payload: unknown): ReplyLike;
}

/**
 * What describes a representation (an object being sent), not an error about it. A stream reply that fails
 * before its first byte (storage cut, client gone) reaches the error handler with these still set: Fastify
 * copies a stream's headers onto the raw response before piping and clears only its own `content-type`
 * and `content-length` on error, so the JSON error body could not be serialized (a second error,
 * FST_ERR_REP_INVALID_PAYLOAD_TYPE) and a range's `Content-Range` and `ETag` would have described it.
 * `removeHeader` clears both copies. Security, CORS and cache headers stay.
 */
const REPRESENTATION_HEADERS = [
  'content-type',
  'content-length',
  'content-range',
  'content-encoding',
  'content-disposition',
  'accept-ranges',
  'etag',
  'last-modified',
];
interface RequestLike {
  method: string;
  log: { error(obj: object, msg: string): void };
}

/** Fastify error handler: the contract's body, `no-store`, and server faults logged but never shown. */
export function sendContractError(error: unknown, request: RequestLike, reply: ReplyLike): void {
  const { statusCode, body } = mapErrorToResponse(error);
  if (statusCode >= 500) request.log.error({ err: error }, 'request failed');
  for (const name of REPRESENTATION_HEADERS) reply.removeHeader(name);
  const headers = (error as { headers?: Record<string, string> } | null)?.headers;
  if (headers) reply.headers(headers);
  reply.header('cache-control', 'no-store').code(statusCode).send(body);
}

/** Fastify not-found handler with the contract's body. */
export function sendNotFound(request: RequestLike, reply: ReplyLike): void {
  sendContractError(
    { statusCode: 404, code: ErrorCode.notFound, message: `no route for ${request.method} here` },
    request,
    reply,
  );
}
