/**
 * `GET /internal/revocations`: the revocation feed media replicas follow (CONTRACT.md, Revocation; wire
 * format in `@stagedoor/shared/revocations`). Authenticated by a service token (RFC 9068, from
 * `/oauth/token`) with the `revocations:read` scope, verified against this gateway's own published keys;
 * never by a cookie. On connect: a snapshot of every revocation still relevant, then each new one as it
 * is published by any gateway instance. The stream ends when the token expires (the replica reconnects
 * with a fresh one and gets a fresh snapshot), and when this instance may have missed revocations (its
 * Redis subscription was lost), so that the reconnect's snapshot closes the gap.
 */
import {
  REVOCATION_EVENT,
  REVOCATION_FEED_PATH,
  REVOCATION_KEEPALIVE_MS,
  REVOCATION_SNAPSHOT_EVENT,
  REVOCATIONS_SCOPE,
  type RevocationEntry,
} from '@stagedoor/shared/revocations';
import {
  ALLOWED_ALGORITHMS,
  CLOCK_TOLERANCE_SECONDS,
  checkServiceClaims,
  MEDIA_AUDIENCE,
  parseScope,
  SERVICE_TOKEN_TYP,
} from '@stagedoor/shared/tokens';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { Forbidden, InvalidToken } from '../errors.js';
import type { EventStream } from '../plugins/event-streams.js';

const errorRef = { $ref: 'ErrorBody#' } as const;
const BEARER = /^Bearer[ ]+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)[ ]*$/i;

function unauthorized(message: string): Error {
  return Object.assign(new InvalidToken(message), {
    headers: { 'www-authenticate': 'Bearer realm="stagedoor", error="invalid_token"' },
  });
}

/** The client's token: a service token of this gateway with the feed's scope. Returns its `exp` (ms). */
async function authenticateFeedReader(app: FastifyInstance, request: FastifyRequest): Promise<number> {
  const match = BEARER.exec(request.headers.authorization ?? '');
  if (!match?.[1]) throw unauthorized('a service token is required (Authorization: Bearer)');
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(match[1], createLocalJWKSet({ keys: app.signingKeys.publicKeys() }), {
      algorithms: [...ALLOWED_ALGORITHMS],
      typ: SERVICE_TOKEN_TYP,
      issuer: app.signingKeys.issuer,
      audience: MEDIA_AUDIENCE,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['iss', 'aud', 'sub', 'iat', 'exp', 'jti'],
    }));
  } catch {
    throw unauthorized('the service token is not valid');
  }
  const check = checkServiceClaims(payload);
  if (!check.ok) throw unauthorized('the service token is not valid');
  if (!parseScope(check.claims.scope).has(REVOCATIONS_SCOPE)) {
    throw new Forbidden(`the token lacks the ${REVOCATIONS_SCOPE} scope`);
  }
  return check.claims.exp * 1000;
}

export default async function revocationFeedRoutes(app: FastifyInstance): Promise<void> {
  const revocations = app.stores.revocations;
  const streams = new Set<EventStream>();
  revocations.subscribe(({ sid, exp }) => {
    for (const stream of streams) stream.send(REVOCATION_EVENT, { sid, exp } satisfies RevocationEntry);
  });
  // This instance may have missed revocations: every reader starts over (reconnect, fresh snapshot).
  revocations.onGap(() => {
    for (const stream of [...streams]) stream.end();
  });

  app.get(
    REVOCATION_FEED_PATH,
    {
      schema: {
        summary: 'Revocation feed for media (Server-Sent Events; service token with revocations:read)',
        produces: ['text/event-stream'],
        response: {
          200: { description: 'a snapshot event, then one event per revocation', type: 'string' },
          401: errorRef,
          403: errorRef,
          503: errorRef,
        },
      },
    },
    async (request, reply) => {
      const tokenExpiresAt = await authenticateFeedReader(app, request);
      // Listen before reading the snapshot, so a revocation published in between is not lost (it may
      // then come twice, which is harmless).
      const early: RevocationEntry[] = [];
      const unsubscribe = revocations.subscribe(({ sid, exp }) => early.push({ sid, exp }));
      let snapshot: RevocationEntry[];
      try {
        snapshot = await revocations.snapshot();
      } finally {
        unsubscribe();
      }
      const stream = app.openEventStream(reply, {
        keepaliveMs: REVOCATION_KEEPALIVE_MS,
        endAt: tokenExpiresAt,
      });
      stream.send(REVOCATION_SNAPSHOT_EVENT, { revocations: [...snapshot, ...early] });
      streams.add(stream);
      stream.onClose(() => streams.delete(stream));
    },
  );
}
