/**
 * What both apps let into a log line, so that no token, cookie, password or CSRF token gets there.
 *
 * Redaction follows meaning, not spelling (issue 11 §2): Fastify decodes percent-encoded query names, so a
 * `?%74oken=` is a `token` to the app, and a list of spellings to redact always misses one. So:
 * - a logged URL never has its query (`?[REDACTED]` says there was one) nor a fragment or authority;
 * - its path is logged percent-decoded, and any segment after a `t` segment (any case, `;params` ignored,
 *   wherever it stands: the `/v1/t/<token>/` carrier and every refused variant of it), or containing
 *   something shaped like a JWT, is replaced;
 * - errors lose the raw request bytes Node's HTTP parser attaches (`rawPacket`, headers included), and
 *   anything JWT-shaped in their message or stack;
 * - headers are not logged at all; the redact paths below are the second line for objects that carry them.
 */
import { isIP } from 'node:net';

export const REDACT_PATHS = [
  'req.headers.cookie',
  'req.headers.authorization',
  'req.headers["x-csrf-token"]',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers.cookie',
  'headers.authorization',
  '*.password',
  '*.token',
  '*.csrfToken',
  '*.access_token',
  '*.client_secret',
  'password',
  'token',
  'csrfToken',
];

const CENSOR = '[REDACTED]';
/** Three base64url runs joined by dots (a JWS), or the base64url of a JSON object's start (`{"`). */
const TOKEN_SHAPE = /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}|eyJ[A-Za-z0-9_-]{8,}/g;
const LOOKS_LIKE_TOKEN = new RegExp(TOKEN_SHAPE.source);
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;
const PERCENT_RUN = /(?:%[0-9A-Fa-f]{2})+/g;

/** Replaces every JWT-shaped run in free text (error messages, stacks). */
export function redactTokensInText(text: string): string {
  return text.replace(TOKEN_SHAPE, CENSOR);
}

/** Decodes every valid `%XX` run (invalid escapes stay as they are), up to three layers deep. */
function decodePercent(text: string): string {
  let current = text;
  for (let round = 0; round < 3; round++) {
    const next = current.replace(PERCENT_RUN, (run) =>
      Buffer.from(run.replaceAll('%', ''), 'hex').toString('utf8'),
    );
    if (next === current) break;
    current = next;
  }
  return current;
}

function isCarrierMarker(segment: string): boolean {
  return segment.split(';')[0]?.trim().toLowerCase() === 't';
}

/**
 * The form of a request URL that may be logged: the path only, percent-decoded, with token-carrying
 * segments replaced (see the file header). `/v1/t/<token>/catalog/a.wav?x=1` → `/v1/t/[REDACTED]/catalog/a.wav?[REDACTED]`.
 */
export function redactUrl(url: string): string {
  const target = url.replace(ABSOLUTE_FORM, '');
  const end = target.search(/[?#]/);
  const path = end === -1 ? target : target.slice(0, end);
  const parts = decodePercent(path).split(/([/\\])/);
  let afterMarker = false;
  for (let i = 0; i < parts.length; i += 2) {
    const segment = parts[i] ?? '';
    if (segment === '') continue;
    const redact = afterMarker || LOOKS_LIKE_TOKEN.test(segment);
    afterMarker = isCarrierMarker(segment);
    if (redact) parts[i] = CENSOR;
  }
  return parts.join('') + (end === -1 ? '' : `?${CENSOR}`);
}

/** pino's request serializer for both apps: method, the redacted URL and the client address; no headers. */
export function serializeRequest(req: {
  method?: string;
  url?: string;
  ip?: string;
}): Record<string, unknown> {
  // Behind a trusted proxy the address comes from X-Forwarded-For, which the client writes: only an IP passes.
  const remoteAddress = req.ip !== undefined && isIP(req.ip) === 0 ? CENSOR : req.ip;
  return { method: req.method, url: redactUrl(req.url ?? ''), remoteAddress };
}

/**
 * pino's error serializer for both apps, in the shape of pino's own (`type`, `message`, `stack`, own
 * enumerable properties, `cause`), without `rawPacket` and with JWT-shaped text replaced.
 */
export interface SerializedError {
  [key: string]: unknown;
  type: string;
  message: string;
  stack: string;
}

export function serializeError(err: Error): SerializedError {
  // pino calls this for whatever is logged under `err`; only errors are reshaped.
  if (!(err instanceof Error)) return err;
  return serializeErrorAt(err, 0);
}

function serializeErrorAt(err: Error, depth: number): SerializedError {
  const out: SerializedError = {
    type: err.constructor.name,
    message: redactTokensInText(String(err.message)),
    stack: redactTokensInText(err.stack ?? ''),
  };
  for (const [key, value] of Object.entries(err)) {
    if (key === 'rawPacket' || key in out) continue;
    out[key] = typeof value === 'string' ? redactTokensInText(value) : value;
  }
  const cause: unknown = err.cause;
  if (cause !== undefined) {
    out.cause = cause instanceof Error && depth < 3 ? serializeErrorAt(cause, depth + 1) : cause;
  }
  return out;
}

export const LOG_SERIALIZERS = { req: serializeRequest, err: serializeError };
