/**
 * Verifying the gateway's JWTs (CONTRACT.md, Tokens). Keys come only from the configured JWKS (remote, cached,
 * refetched for an unknown kid after a cooldown; or a static file): jose's key-set getters pick a key by
 * `kid`/`alg` alone, so `jwk`, `jku`, `x5u` and `x5c` headers can never bring their own key. Algorithms come
 * from our allowlist, never from the token. `typ` picks the profile and the two exclude each other
 * (RFC 8725 §3.12).
 */
import { readFileSync } from 'node:fs';
import {
  ALLOWED_ALGORITHMS,
  CLOCK_TOLERANCE_SECONDS,
  checkMediaClaims,
  checkServiceClaims,
  MAX_MEDIA_TOKEN_TTL_SECONDS,
  MAX_SERVICE_TOKEN_TTL_SECONDS,
  MAX_TOKEN_BYTES,
  MEDIA_AUDIENCE,
  MEDIA_TOKEN_TYP,
  type MediaGrant,
  type MediaTokenClaims,
  mediaGrantOf,
  parseScope,
  SERVICE_TOKEN_TYP,
  type ServiceTokenClaims,
} from '@stagedoor/shared/tokens';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  type JSONWebKeySet,
  type JWKSCacheInput,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwksCache,
  jwtVerify,
} from 'jose';
import type { MediaConfig } from '../config.js';
import { VerifiedTokenCache } from '../verified-token-cache.js';

export type VerifiedToken =
  | { profile: 'media'; claims: MediaTokenClaims; grant: MediaGrant; expiresAt: number }
  | { profile: 'service'; claims: ServiceTokenClaims; scopes: Set<string>; expiresAt: number };

/** The token is not acceptable; `reason` is safe to show (it never contains the token). */
export class TokenRejected extends Error {
  readonly code = 'ERR_TOKEN_REJECTED';
  /** `expired`: only `exp` failed (the metrics' outcome); `invalid`: anything else. */
  constructor(
    message: string,
    readonly reason: 'invalid' | 'expired' = 'invalid',
  ) {
    super(message);
  }
}

/** The token is valid but its session has ended (CONTRACT.md, Revocation). */
export class SessionRevoked extends Error {
  readonly code = 'ERR_SESSION_REVOKED';
}

/** The key set could not be fetched, so no token can be judged right now (not the caller's fault). */
export class KeysUnreachable extends Error {
  readonly code = 'ERR_KEYS_UNREACHABLE';
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

const PROFILES = {
  [MEDIA_TOKEN_TYP]: { profile: 'media', maxTtl: MAX_MEDIA_TOKEN_TTL_SECONDS },
  [SERVICE_TOKEN_TYP]: { profile: 'service', maxTtl: MAX_SERVICE_TOKEN_TTL_SECONDS },
} as const;

function isKeyFetchFailure(error: unknown): boolean {
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid) return true;
  // fetch() failures (refused, reset) are TypeErrors; a non-200 JWKS answer is a bare JOSEError.
  if (error instanceof TypeError) return true;
  return error instanceof joseErrors.JOSEError && error.code === 'ERR_JOSE_GENERIC';
}

export async function verifyAccessToken(
  token: string,
  getKey: JWTVerifyGetKey,
  options: { issuer: string; clockToleranceSeconds?: number; nowSeconds?: () => number },
): Promise<VerifiedToken> {
  // Refused before any parsing: a giant token costs nothing but this comparison.
  if (token.length > MAX_TOKEN_BYTES) throw new TokenRejected('the token is too large');
  if (!COMPACT_JWS.test(token)) throw new TokenRejected('the token is malformed');
  let typ: unknown;
  try {
    typ = decodeProtectedHeader(token).typ;
  } catch {
    throw new TokenRejected('the token is malformed');
  }
  const profile = typeof typ === 'string' ? PROFILES[typ as keyof typeof PROFILES] : undefined;
  if (!profile) throw new TokenRejected('the token has the wrong type');
  const clockTolerance = Math.min(
    options.clockToleranceSeconds ?? CLOCK_TOLERANCE_SECONDS,
    CLOCK_TOLERANCE_SECONDS,
  );
  const now = options.nowSeconds?.() ?? Date.now() / 1000;
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, getKey, {
      algorithms: [...ALLOWED_ALGORITHMS],
      typ: typ as string,
      issuer: options.issuer,
      audience: MEDIA_AUDIENCE,
      clockTolerance,
      currentDate: new Date(now * 1000),
      requiredClaims: ['iss', 'aud', 'sub', 'iat', 'exp', 'jti'],
    }));
  } catch (error) {
    if (error instanceof KeysUnreachable) throw error;
    if (error instanceof joseErrors.JWTExpired) throw new TokenRejected('the token has expired', 'expired');
    if (error instanceof joseErrors.JWKSNoMatchingKey)
      throw new TokenRejected('the token was signed by an unknown key');
    if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
      throw new TokenRejected('the token signature is not valid');
    }
    if (error instanceof joseErrors.JWTClaimValidationFailed) {
      throw new TokenRejected(`the token's "${error.claim}" claim is not acceptable`);
    }
    if (error instanceof joseErrors.JOSEAlgNotAllowed)
      throw new TokenRejected('the token algorithm is not allowed');
    throw new TokenRejected('the token is not valid');
  }
  const iat = payload.iat as number;
  const exp = payload.exp as number;
  // jose checks `iat` only against a maximum age: a token issued in the future (a skewed or forged clock)
  // would otherwise live longer than its lifetime says (RFC 7519 §4.1.6; same tolerance as exp and nbf).
  if (iat > now + clockTolerance) throw new TokenRejected(`the token's "iat" claim is in the future`);
  // A token living longer than its profile allows was not minted by our gateway's rules.
  if (exp - iat > profile.maxTtl) throw new TokenRejected('the token lifetime is too long');
  if (profile.profile === 'media') {
    const check = checkMediaClaims(payload);
    if (!check.ok) throw new TokenRejected(check.reason);
    return { profile: 'media', claims: check.claims, grant: mediaGrantOf(check.claims), expiresAt: exp };
  }
  const check = checkServiceClaims(payload);
  if (!check.ok) throw new TokenRejected(check.reason);
  return { profile: 'service', claims: check.claims, scopes: parseScope(check.claims.scope), expiresAt: exp };
}

export type KeysStatus = 'fresh' | 'stale' | 'none';

export interface TokenVerifier {
  verify(token: string): Promise<VerifiedToken>;
  /**
   * Fetches the keys now (bounded by the JWKS timeout): `fresh` when that worked (a static file always
   * does), `stale` when it failed but the last keys seen still verify, `none` when no token can be judged.
   */
  probeKeys(): Promise<KeysStatus>;
}

interface KeySource {
  getKey: JWTVerifyGetKey;
  /** The key set now in use; a new object whenever it is fetched again. */
  current(): unknown;
  probe(): Promise<KeysStatus>;
}

function remoteKeySet(config: MediaConfig, url: URL, nowSeconds: () => number): KeySource {
  // jose writes each key set it fetches and applies into this holder: a new `jwks` object per fetch.
  const fetched: JWKSCacheInput = {};
  const remote = createRemoteJWKSet(url, {
    // The cache's age is judged below by the verifier's clock (tests inject one; jose reads Date.now()),
    // so jose fetches only when told to, or for an unknown kid once its cooldown has passed.
    cacheMaxAge: Number.POSITIVE_INFINITY,
    cooldownDuration: config.jwksCooldownSeconds * 1000,
    timeoutDuration: config.jwksTimeoutMs,
    [jwksCache]: fetched,
  });
  let known: unknown;
  let knownSince = Number.NEGATIVE_INFINITY;
  /** True while the key set jose holds was fetched less than JWKS_CACHE_MAX_AGE_SECONDS ago. */
  const fresh = () => {
    if (fetched.jwks !== known) {
      known = fetched.jwks;
      knownSince = nowSeconds();
    }
    return known !== undefined && nowSeconds() < knownSince + config.jwksCacheMaxAgeSeconds;
  };
  const getKey: JWTVerifyGetKey = async (header, token) => {
    try {
      if (!fresh()) await remote.reload();
      return await remote(header, token);
    } catch (error) {
      if (!isKeyFetchFailure(error)) throw error;
      // The cache expired and the gateway does not answer: keep verifying with the last keys we saw
      // (a retired key is still removed as soon as a fetch succeeds); with none at all, no token can pass.
      const stale = remote.jwks();
      if (stale) return createLocalJWKSet(stale)(header, token);
      throw new KeysUnreachable('the verification keys cannot be fetched');
    }
  };
  return {
    getKey,
    // Once the cache age has passed, no key set counts as current until jose fetches one again.
    current: () => (fresh() ? fetched.jwks : undefined),
    probe: async () => {
      try {
        await remote.reload();
        return 'fresh';
      } catch {
        return remote.jwks() ? 'stale' : 'none';
      }
    },
  };
}

function fileKeySet(file: string): KeySource {
  const jwks = JSON.parse(readFileSync(file, 'utf8')) as JSONWebKeySet;
  if (!Array.isArray(jwks.keys) || jwks.keys.some((k) => 'd' in k)) {
    throw new Error(`JWKS_FILE ${file} must be a JWK Set of public keys`);
  }
  return { getKey: createLocalJWKSet(jwks), current: () => jwks, probe: async () => 'fresh' };
}

export function createTokenVerifier(
  config: MediaConfig,
  options: { nowSeconds?: () => number; isRevoked?: (sid: string) => boolean } = {},
): TokenVerifier {
  const isRevoked = options.isRevoked ?? (() => false);
  // Asked after the cache as well as after a full check: the cache never serves a revoked token.
  const refuseRevoked = (verified: VerifiedToken): VerifiedToken => {
    if (verified.profile === 'media' && isRevoked(verified.claims.sid)) {
      throw new SessionRevoked('the session this token belongs to has ended');
    }
    return verified;
  };
  const verifyOptions = {
    issuer: config.issuer,
    clockToleranceSeconds: config.clockToleranceSeconds,
    nowSeconds: options.nowSeconds,
  };
  const nowSeconds = options.nowSeconds ?? (() => Date.now() / 1000);
  const keys =
    'file' in config.jwks ? fileKeySet(config.jwks.file) : remoteKeySet(config, config.jwks.url, nowSeconds);
  const cache = new VerifiedTokenCache(config.tokenCacheEntries, options.nowSeconds);
  return {
    verify: async (token) => {
      const cached = cache.get(token, keys.current());
      if (cached) return refuseRevoked(cached);
      const verified = await verifyAccessToken(token, keys.getKey, verifyOptions);
      // The key set read after verifying: had it been fetched anew during the check, the entry is
      // simply checked once more next time.
      const keySet = keys.current();
      if (keySet !== undefined) cache.set(token, keySet, verified);
      return refuseRevoked(verified);
    },
    probeKeys: keys.probe,
  };
}

declare module 'fastify' {
  interface FastifyInstance {
    tokenVerifier: TokenVerifier;
  }
}

export default fp(
  async (app: FastifyInstance, opts: { config: MediaConfig; nowSeconds?: () => number }) => {
    app.decorate(
      'tokenVerifier',
      createTokenVerifier(opts.config, { nowSeconds: opts.nowSeconds, isRevoked: app.revocations.isRevoked }),
    );
  },
  { name: 'token-verifier', fastify: '5.x', dependencies: ['revocations'] },
);
