/**
 * `POST /oauth/token`: the client credentials grant (RFC 6749 §4.4) issuing RFC 9068 access tokens for
 * media's service API.
 *
 * - Client authentication (§2.3.1): HTTP Basic, where id and secret are each form-urlencoded before
 *   being joined with ":", or the body fields `client_id`/`client_secret` — one method per request.
 * - Errors (§5.2) are `{"error","error_description"}`: this plugin has its own error handler, so nothing
 *   here answers with the `{"error","message"}` shape of the other routes. 401 `invalid_client` carries
 *   `WWW-Authenticate: Basic` when the client tried Basic.
 * - Every answer, success or error, is `Cache-Control: no-store` and `Pragma: no-cache` (§5.1).
 * - Client authentications are counted by the attempt limiter (per client id and address, like
 *   sign-ins) before the secret is checked; past a limit the answer is 429 with `Retry-After`, so
 *   concurrent guesses cannot outrun the count and a guessing client stops costing argon2 time.
 */
import formbody from '@fastify/formbody';
import { ErrorCode } from '@stagedoor/shared/errors';
import { MAX_SERVICE_TOKEN_TTL_SECONDS, SERVICE_SCOPES, type ServiceScope } from '@stagedoor/shared/tokens';
import { mintServiceToken } from '@stagedoor/shared/tokens/mint';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { clientAddress } from '../client-address.js';

export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'too_many_attempts'
  | 'server_error'
  | 'temporarily_unavailable';

export class OAuthError extends Error {
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
    readonly statusCode = 400,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
    this.name = 'OAuthError';
  }
}

interface ClientCredentials {
  id: string;
  secret: string;
  method: 'basic' | 'post';
}

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' } as const;

/** RFC 6749 Appendix B: application/x-www-form-urlencoded, where "+" is a space. */
function formDecode(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

function single(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  // §3.2: request parameters must not be included more than once.
  if (typeof value !== 'string') throw new OAuthError('invalid_request', `"${name}" must be given once`);
  return value;
}

function readCredentials(request: FastifyRequest, body: Record<string, unknown>): ClientCredentials | null {
  const authorization = request.headers.authorization;
  const bodyId = single(body, 'client_id');
  const bodySecret = single(body, 'client_secret');
  if (authorization !== undefined) {
    const match = /^Basic[ ]+([A-Za-z0-9+/=]+)[ ]*$/i.exec(authorization);
    if (!match) {
      throw new OAuthError('invalid_client', 'the Authorization header is not valid Basic credentials', 401, {
        'www-authenticate': 'Basic realm="stagedoor"',
      });
    }
    if (bodyId !== undefined || bodySecret !== undefined) {
      // §2.3: a client must not use more than one authentication method per request.
      throw new OAuthError('invalid_request', 'authenticate with Basic or with form fields, not both');
    }
    const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    try {
      if (colon < 1) throw new Error('no id');
      return {
        id: formDecode(decoded.slice(0, colon)),
        secret: formDecode(decoded.slice(colon + 1)),
        method: 'basic',
      };
    } catch {
      throw new OAuthError('invalid_client', 'the Basic credentials are malformed', 401, {
        'www-authenticate': 'Basic realm="stagedoor"',
      });
    }
  }
  if (bodyId === undefined && bodySecret === undefined) return null;
  if (!bodyId || bodySecret === undefined) {
    throw new OAuthError('invalid_request', 'send both client_id and client_secret');
  }
  return { id: bodyId, secret: bodySecret, method: 'post' };
}

function sendOAuthError(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  let oauth: OAuthError;
  const e = (error ?? {}) as { statusCode?: number; code?: unknown; message?: string };
  const status = e.statusCode ?? 500;
  if (error instanceof OAuthError) oauth = error;
  else if (status === 403 && String(e.code).toLowerCase() === ErrorCode.csrfFailed) {
    // (@fastify/error upper-cases codes, hence the comparison without case.)
    // The gateway-wide Origin check (csrf plugin) refused a browser's cross-site POST.
    oauth = new OAuthError(
      'invalid_request',
      e.message ?? 'this origin may not call the token endpoint',
      403,
    );
  } else if (status === 503) {
    // The attempt counters' store does not answer.
    oauth = new OAuthError('temporarily_unavailable', 'try again later', 503);
  } else {
    if (status >= 500) {
      request.log.error({ err: error }, 'token request failed');
      oauth = new OAuthError('server_error', 'something went wrong on our side', 500);
    } else if (status === 415) {
      oauth = new OAuthError('invalid_request', 'send application/x-www-form-urlencoded', 400);
    } else oauth = new OAuthError('invalid_request', 'the request is malformed', 400);
  }
  reply
    .code(oauth.statusCode)
    .headers({ ...NO_STORE, ...oauth.headers })
    .send({ error: oauth.error, error_description: oauth.description });
}

export default async function oauthRoutes(app: FastifyInstance): Promise<void> {
  // Scoped to this plugin: only the token endpoint accepts form bodies.
  await app.register(formbody, { bodyLimit: 4096 });
  app.setErrorHandler(sendOAuthError);

  const errorSchema = {
    type: 'object',
    required: ['error'],
    properties: { error: { type: 'string' }, error_description: { type: 'string' } },
  } as const;

  app.post<{ Body: Record<string, unknown> | undefined }>(
    '/oauth/token',
    {
      // Service clients authenticate with their credentials, never with a session cookie.
      config: { csrf: 'origin-only' },
      schema: {
        description: 'Client credentials grant (RFC 6749 §4.4); issues RFC 9068 access tokens',
        consumes: ['application/x-www-form-urlencoded'],
        response: {
          200: {
            type: 'object',
            required: ['access_token', 'token_type', 'expires_in', 'scope'],
            properties: {
              access_token: { type: 'string' },
              token_type: { type: 'string' },
              expires_in: { type: 'integer' },
              scope: { type: 'string' },
            },
          },
          400: errorSchema,
          401: errorSchema,
          429: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const contentType = request.headers['content-type'];
      if (contentType !== undefined && !/^application\/x-www-form-urlencoded\s*(;|$)/i.test(contentType)) {
        throw new OAuthError('invalid_request', 'send the parameters as application/x-www-form-urlencoded');
      }
      const body = (request.body ?? {}) as Record<string, unknown>;
      const credentials = readCredentials(request, body);
      const basicChallenge: Record<string, string> =
        credentials?.method === 'basic' || request.headers.authorization !== undefined
          ? { 'www-authenticate': 'Basic realm="stagedoor"' }
          : {};
      if (credentials === null) {
        throw new OAuthError('invalid_client', 'client authentication is required', 401, {
          'www-authenticate': 'Basic realm="stagedoor"',
        });
      }
      // The attempt is counted before the secret is checked (plugins/attempt-limiter.ts).
      const result = await app.attemptLimiter.attempt(
        'oauth',
        credentials.id,
        clientAddress(request),
        async () => {
          const client = await app.serviceClients.authenticate(credentials.id, credentials.secret);
          return client ? { ok: true as const, client } : { ok: false as const };
        },
      );
      if (result.outcome === 'rate_limited') {
        throw new OAuthError('too_many_attempts', 'too many failed client authentications', 429, {
          'retry-after': String(result.retryAfterSeconds),
        });
      }
      if (result.outcome === 'invalid_credentials') {
        throw new OAuthError('invalid_client', 'unknown client or wrong secret', 401, basicChallenge);
      }
      const { client } = result.check;

      const grantType = single(body, 'grant_type');
      if (grantType === undefined) throw new OAuthError('invalid_request', 'grant_type is required');
      if (grantType !== 'client_credentials') {
        throw new OAuthError('unsupported_grant_type', 'only client_credentials is supported');
      }
      const requested = single(body, 'scope');
      let granted: ServiceScope[];
      if (requested === undefined) granted = [...client.scopes];
      else {
        const asked = requested.split(' ').filter((s) => s.length > 0);
        if (asked.length === 0) throw new OAuthError('invalid_scope', 'the scope is empty');
        const refused = asked.filter((s) => !client.scopes.includes(s as ServiceScope));
        if (refused.length > 0) {
          throw new OAuthError('invalid_scope', `not allowed for this client: ${refused.join(' ')}`);
        }
        granted = asked as ServiceScope[];
      }
      const scope = SERVICE_SCOPES.filter((s) => granted.includes(s)).join(' ');
      const minted = await mintServiceToken({
        key: app.signingKeys.active(),
        issuer: app.signingKeys.issuer,
        clientId: client.id,
        scope,
        ttlSeconds: MAX_SERVICE_TOKEN_TTL_SECONDS,
      });
      reply.headers(NO_STORE);
      return {
        access_token: minted.token,
        token_type: 'Bearer',
        expires_in: MAX_SERVICE_TOKEN_TTL_SECONDS,
        scope,
      };
    },
  );
}
