/**
 * Minting the two token profiles of CONTRACT.md (Tokens). The gateway uses these with its active signing
 * key; tests use them with keys they generate, so that media is always tested against real signatures.
 */
import { type CryptoKey, type KeyObject, SignJWT } from 'jose';
import {
  MAX_MEDIA_TOKEN_TTL_SECONDS,
  MAX_SERVICE_TOKEN_TTL_SECONDS,
  MEDIA_AUDIENCE,
  MEDIA_TOKEN_TYP,
  type MediaGrant,
  SERVICE_TOKEN_TYP,
} from './claims.js';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey | KeyObject;
}

export interface MintedToken {
  token: string;
  jti: string;
  /** Seconds since the epoch. */
  expiresAt: number;
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}

export async function mintMediaToken(options: {
  key: SigningKey;
  issuer: string;
  subject: string;
  sid: string;
  grant: MediaGrant;
  ttlSeconds: number;
  issuedAt?: number;
}): Promise<MintedToken> {
  const ttl = Math.min(options.ttlSeconds, MAX_MEDIA_TOKEN_TTL_SECONDS);
  const iat = options.issuedAt ?? now();
  const jti = crypto.randomUUID();
  const claims = options.grant.kind === 'key' ? { key: options.grant.key } : { prefix: options.grant.prefix };
  const token = await new SignJWT({ sid: options.sid, ...claims })
    .setProtectedHeader({ alg: 'EdDSA', kid: options.key.kid, typ: MEDIA_TOKEN_TYP })
    .setIssuer(options.issuer)
    .setAudience(MEDIA_AUDIENCE)
    .setSubject(options.subject)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttl)
    .setJti(jti)
    .sign(options.key.privateKey);
  return { token, jti, expiresAt: iat + ttl };
}

export async function mintServiceToken(options: {
  key: SigningKey;
  issuer: string;
  clientId: string;
  scope: string;
  ttlSeconds: number;
  issuedAt?: number;
}): Promise<MintedToken> {
  const ttl = Math.min(options.ttlSeconds, MAX_SERVICE_TOKEN_TTL_SECONDS);
  const iat = options.issuedAt ?? now();
  const jti = crypto.randomUUID();
  // RFC 9068 §2.2: sub is the client itself for client-credentials tokens.
  const token = await new SignJWT({ client_id: options.clientId, scope: options.scope })
    .setProtectedHeader({ alg: 'EdDSA', kid: options.key.kid, typ: SERVICE_TOKEN_TYP })
    .setIssuer(options.issuer)
    .setAudience(MEDIA_AUDIENCE)
    .setSubject(options.clientId)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttl)
    .setJti(jti)
    .sign(options.key.privateKey);
  return { token, jti, expiresAt: iat + ttl };
}
