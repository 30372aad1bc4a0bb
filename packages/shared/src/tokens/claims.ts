/**
 * The two token profiles of CONTRACT.md (Tokens). `typ` decides which profile applies, and the two exclude
 * each other (RFC 8725 §3.12): a media token can never pass as a service token, nor the reverse.
 */
import { keyIsUnderPrefix, validateKeyPrefix, validateObjectKey } from '../keys/object-key.js';

export const MEDIA_AUDIENCE = 'stagedoor-media';
export const MEDIA_TOKEN_TYP = 'media+jwt';
export const SERVICE_TOKEN_TYP = 'at+jwt';
/** Asymmetric algorithms media accepts; never taken from the token itself. */
export const ALLOWED_ALGORITHMS = ['EdDSA'] as const;
export const MAX_MEDIA_TOKEN_TTL_SECONDS = 3600;
export const DEFAULT_MEDIA_TOKEN_TTL_SECONDS = 300;
export const MAX_SERVICE_TOKEN_TTL_SECONDS = 300;
export const CLOCK_TOLERANCE_SECONDS = 5;
/** Tokens longer than this are refused before any parsing. */
export const MAX_TOKEN_BYTES = 8 * 1024;

/** `revocations:read` lets a media replica follow the gateway's revocation feed (see `revocations.ts`). */
export const SERVICE_SCOPES = ['media:read', 'media:list', 'media:write', 'revocations:read'] as const;
export type ServiceScope = (typeof SERVICE_SCOPES)[number];

interface RegisteredClaims {
  iss: string;
  aud: string | string[];
  sub: string;
  iat: number;
  exp: number;
  nbf?: number;
  jti: string;
}

export interface MediaTokenClaims extends RegisteredClaims {
  /** The session's public handle. */
  sid: string;
  key?: string;
  prefix?: string;
}

export interface ServiceTokenClaims extends RegisteredClaims {
  client_id: string;
  scope: string;
}

/** What a verified token grants, after its profile was checked. */
export type MediaGrant = { kind: 'key'; key: string } | { kind: 'prefix'; prefix: string };

export type ClaimsCheck<T> = { ok: true; claims: T } | { ok: false; reason: string };

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

function checkRegistered(payload: Record<string, unknown>): string | null {
  for (const name of ['iss', 'sub', 'jti'] as const) {
    if (!isNonEmptyString(payload[name])) return `claim "${name}" is missing`;
  }
  for (const name of ['iat', 'exp'] as const) {
    if (typeof payload[name] !== 'number') return `claim "${name}" is missing`;
  }
  return null;
}

/** Checks the media profile's own claims (signature, iss, aud and times are checked by the verifier). */
export function checkMediaClaims(payload: Record<string, unknown>): ClaimsCheck<MediaTokenClaims> {
  const bad = checkRegistered(payload);
  if (bad) return { ok: false, reason: bad };
  if (!isNonEmptyString(payload.sid)) return { ok: false, reason: 'claim "sid" is missing' };
  if ('scope' in payload || 'client_id' in payload) {
    return { ok: false, reason: 'a media token may not carry service claims' };
  }
  const hasKey = payload.key !== undefined;
  const hasPrefix = payload.prefix !== undefined;
  if (hasKey === hasPrefix)
    return { ok: false, reason: 'a media token carries exactly one of "key" or "prefix"' };
  if (hasKey && !validateObjectKey(payload.key).ok)
    return { ok: false, reason: 'claim "key" is not a valid key' };
  if (hasPrefix && !validateKeyPrefix(payload.prefix).ok) {
    return { ok: false, reason: 'claim "prefix" is not a valid prefix' };
  }
  return { ok: true, claims: payload as unknown as MediaTokenClaims };
}

/** Checks the service (RFC 9068) profile's own claims. */
export function checkServiceClaims(payload: Record<string, unknown>): ClaimsCheck<ServiceTokenClaims> {
  const bad = checkRegistered(payload);
  if (bad) return { ok: false, reason: bad };
  if (!isNonEmptyString(payload.client_id)) return { ok: false, reason: 'claim "client_id" is missing' };
  if (typeof payload.scope !== 'string') return { ok: false, reason: 'claim "scope" is missing' };
  if ('key' in payload || 'prefix' in payload || 'sid' in payload) {
    return { ok: false, reason: 'a service token may not carry media claims' };
  }
  return { ok: true, claims: payload as unknown as ServiceTokenClaims };
}

export function mediaGrantOf(claims: MediaTokenClaims): MediaGrant {
  return claims.key !== undefined
    ? { kind: 'key', key: claims.key }
    : { kind: 'prefix', prefix: claims.prefix ?? '' };
}

export function grantCoversKey(grant: MediaGrant, key: string): boolean {
  return grant.kind === 'key' ? grant.key === key : keyIsUnderPrefix(key, grant.prefix);
}

export function parseScope(scope: string): Set<string> {
  return new Set(scope.split(' ').filter((s) => s.length > 0));
}
