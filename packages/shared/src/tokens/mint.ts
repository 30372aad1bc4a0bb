/**
 * Minting the two token profiles of CONTRACT.md (Tokens). The gateway uses these with its active signing
 * key; tests use them with keys they generate, so that media is always tested against real signatures.
 *
 * The compact JWS (RFC 7515 §7.1) is built here and signed with one `node:crypto` Ed25519 `sign()`:
 * the header of each (kid, typ) is serialized once, and nothing goes through WebCrypto's thread-pool
 * round trip, which cost more than the signature itself on this project's machines (bench/RESULTS.md,
 * Tokens). Media verifies with jose, and the tests verify every minted token with jose too, so the
 * encoding is checked by an independent implementation.
 */
import { KeyObject, sign, type webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;

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
  /** An Ed25519 private key; a WebCrypto CryptoKey is converted once. */
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

const keyObjects = new WeakMap<CryptoKey, KeyObject>();
function keyObjectOf(key: CryptoKey | KeyObject): KeyObject {
  if (key instanceof KeyObject) return key;
  let object = keyObjects.get(key);
  if (object === undefined) {
    object = KeyObject.from(key);
    keyObjects.set(key, object);
  }
  return object;
}

function assertEd25519Private(key: KeyObject): void {
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519') {
    throw new TypeError('tokens are signed with an Ed25519 private key (alg EdDSA)');
  }
}

/** Encoded protected headers by `kid` and `typ`: the same few strings for the life of a key. */
const headers = new Map<string, string>();
function encodedHeader(kid: string, typ: string): string {
  const id = `${typ}\u0000${kid}`;
  let encoded = headers.get(id);
  if (encoded === undefined) {
    encoded = Buffer.from(JSON.stringify({ alg: 'EdDSA', kid, typ })).toString('base64url');
    if (headers.size >= 64) headers.clear();
    headers.set(id, encoded);
  }
  return encoded;
}

function signCompact(key: SigningKey, typ: string, claims: object): string {
  const privateKey = keyObjectOf(key.privateKey);
  assertEd25519Private(privateKey);
  const input = `${encodedHeader(key.kid, typ)}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  // Ed25519 takes no digest (RFC 8032 signs the message itself): algorithm `null`.
  return `${input}.${sign(null, Buffer.from(input), privateKey).toString('base64url')}`;
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
  const scope = options.grant.kind === 'key' ? { key: options.grant.key } : { prefix: options.grant.prefix };
  const token = signCompact(options.key, MEDIA_TOKEN_TYP, {
    sid: options.sid,
    ...scope,
    iss: options.issuer,
    aud: MEDIA_AUDIENCE,
    sub: options.subject,
    iat,
    exp: iat + ttl,
    jti,
  });
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
  const token = signCompact(options.key, SERVICE_TOKEN_TYP, {
    client_id: options.clientId,
    scope: options.scope,
    iss: options.issuer,
    aud: MEDIA_AUDIENCE,
    sub: options.clientId,
    iat,
    exp: iat + ttl,
    jti,
  });
  return { token, jti, expiresAt: iat + ttl };
}
