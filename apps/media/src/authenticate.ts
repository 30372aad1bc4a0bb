/**
 * Finding the one token a request carries and deciding what it may do (CONTRACT.md, Media). A media token
 * may come as `Authorization: Bearer`, `?token=` or the `/v1/t/<token>/` path segment; a service token only
 * in the Authorization header, so that it never lands in a URL (and so in someone's logs or history).
 */
import { grantCoversKey } from '@stagedoor/shared/tokens';
import type { FastifyRequest } from 'fastify';
import { Forbidden, InvalidToken, KeysUnavailable } from './errors.js';
import type { TokenOutcome } from './plugins/metrics.js';
import { tokenRevokedError } from './plugins/revocations.js';
import {
  KeysUnreachable,
  SessionRevoked,
  TokenRejected,
  type VerifiedToken,
} from './plugins/token-verifier.js';

export type TokenCarrier = 'header' | 'query' | 'path';

const BEARER = /^Bearer[ ]+([^ ]+)[ ]*$/i;

export function invalidToken(message: string, errorCode = true): Error {
  const error = new InvalidToken(message);
  // RFC 6750 §3: a missing token gets the challenge without an error code.
  const challenge = errorCode
    ? 'Bearer realm="stagedoor-media", error="invalid_token"'
    : 'Bearer realm="stagedoor-media"';
  Object.assign(error, { headers: { 'www-authenticate': challenge } });
  return error;
}

/** The token of a request: exactly one carrier, else 401 (RFC 6750 §2: more than one method is an error). */
export function findToken(
  request: FastifyRequest,
  pathToken?: string,
): { token: string; carrier: TokenCarrier } {
  const found: { token: string; carrier: TokenCarrier }[] = [];
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    const match = BEARER.exec(authorization);
    if (!match?.[1]) throw invalidToken('the Authorization header must be "Bearer <token>"');
    found.push({ token: match[1], carrier: 'header' });
  }
  const query = (request.query ?? {}) as Record<string, unknown>;
  if (query.token !== undefined) {
    if (typeof query.token !== 'string') throw invalidToken('send one token only');
    found.push({ token: query.token, carrier: 'query' });
  }
  if (pathToken !== undefined) found.push({ token: pathToken, carrier: 'path' });
  if (found.length === 0) throw invalidToken('a token is required', false);
  if (found.length > 1) throw invalidToken('send the token in one place only');
  return found[0] as { token: string; carrier: TokenCarrier };
}

/**
 * The request's token, verified. Each request to a token-protected route counts once in
 * `stagedoor_token_verifications_total`: here when its token is refused (no token at all counts as `invalid`:
 * it is answered 401 invalid_token too), in `authorizeRead`/`authorizeService` otherwise.
 */
export async function verifyRequestToken(
  request: FastifyRequest,
  pathToken?: string,
): Promise<VerifiedToken> {
  try {
    return await verifyToken(request, pathToken);
  } catch (error) {
    // Every refusal of the token counts, under its outcome: a revoked session's 401 is not an InvalidToken.
    const outcome = (error as { outcome?: TokenOutcome }).outcome;
    if (outcome !== undefined) request.server.metrics.tokenVerified(outcome);
    else if (error instanceof InvalidToken) request.server.metrics.tokenVerified('invalid');
    throw error;
  }
}

async function verifyToken(request: FastifyRequest, pathToken?: string): Promise<VerifiedToken> {
  const { token, carrier } = findToken(request, pathToken);
  let verified: VerifiedToken;
  try {
    verified = await request.server.tokenVerifier.verify(token);
  } catch (error) {
    if (error instanceof TokenRejected) {
      throw Object.assign(invalidToken(error.message), { outcome: error.reason });
    }
    if (error instanceof SessionRevoked) {
      throw Object.assign(tokenRevokedError(), { outcome: 'revoked' satisfies TokenOutcome });
    }
    if (error instanceof KeysUnreachable) throw new KeysUnavailable(error.message);
    throw error;
  }
  if (verified.profile === 'service' && carrier !== 'header') {
    throw invalidToken('a service token must be sent in the Authorization header');
  }
  return verified;
}

/** Reading an object: a media token covering the key, or a service token with `media:read`. */
export function authorizeRead(request: FastifyRequest, verified: VerifiedToken, key: string): void {
  const { metrics } = request.server;
  const allowed =
    verified.profile === 'media' ? grantCoversKey(verified.grant, key) : verified.scopes.has('media:read');
  metrics.tokenVerified(allowed ? 'ok' : 'forbidden');
  if (allowed) return;
  throw new Forbidden(
    verified.profile === 'media'
      ? 'the token does not cover this key'
      : 'the token lacks the media:read scope',
  );
}

/** Service routes: a media token is the wrong kind of token here (401), a service token needs the scope (403). */
export function authorizeService(
  request: FastifyRequest,
  verified: VerifiedToken,
  scope: 'media:list' | 'media:write',
): void {
  const { metrics } = request.server;
  if (verified.profile !== 'service') {
    metrics.tokenVerified('invalid');
    throw invalidToken('this route needs a service token');
  }
  const allowed = verified.scopes.has(scope);
  metrics.tokenVerified(allowed ? 'ok' : 'forbidden');
  if (!allowed) throw new Forbidden(`the token lacks the ${scope} scope`);
}
