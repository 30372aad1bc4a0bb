/**
 * The object key (and path token) of a media URL, read from the raw request path so that what is checked
 * is exactly what the client sent: `/v1/objects/<key>` and `/v1/t/<token>/<key>`, each key segment
 * percent-encoded (CONTRACT.md, Media), decoded and checked by the rules the gateway mints with.
 */
import { decodeKeyPath } from '@stagedoor/shared/keys';
import type { FastifyRequest } from 'fastify';
import { InvalidKey } from './errors.js';

function rawPath(request: FastifyRequest): string {
  const url = request.raw.url ?? '';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

export function keyFromPath(encoded: string): string {
  const check = decodeKeyPath(encoded);
  if (!check.ok) throw new InvalidKey(check.reason);
  return check.key;
}

/** `/v1/objects/<key>` → key. */
export function objectKeyOf(request: FastifyRequest, prefix: string): string {
  return keyFromPath(rawPath(request).slice(prefix.length));
}

/** `/v1/t/<token>/<key>` → token and key. */
export function pathTokenAndKeyOf(request: FastifyRequest, prefix: string): { token: string; key: string } {
  const rest = rawPath(request).slice(prefix.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) throw new InvalidKey('the URL must be /v1/t/<token>/<key>');
  return { token: rest.slice(0, slash), key: keyFromPath(rest.slice(slash + 1)) };
}
