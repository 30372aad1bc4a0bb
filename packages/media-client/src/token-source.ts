/**
 * Where the media client gets its service token (RFC 9068 access token) from.
 *
 * `cachedTokenSource` keeps one token and fetches a new one `refreshMarginSeconds` before it expires, so a
 * request never leaves with a token about to die in flight; concurrent callers share one fetch. The fetch
 * itself is either `clientCredentialsFetcher` (POST to the gateway's /oauth/token, RFC 6749 §4.4) or, inside
 * the gateway, a function that mints with the gateway's own key — no HTTP round-trip to itself.
 */
import { MediaClientError, networkError } from './errors.js';

export interface FetchedToken {
  token: string;
  /** Seconds since the epoch. */
  expiresAt: number;
}

export type TokenFetcher = (signal: AbortSignal) => Promise<FetchedToken>;

export interface ServiceTokenSource {
  /** A token valid for at least the refresh margin. */
  getToken(signal?: AbortSignal): Promise<string>;
  /** Drops the cached token (after media refused it, e.g. once its key was retired). */
  invalidate(): void;
}

export function cachedTokenSource(
  fetchToken: TokenFetcher,
  options: { refreshMarginSeconds?: number; timeoutMs?: number; now?: () => number } = {},
): ServiceTokenSource {
  const margin = options.refreshMarginSeconds ?? 30;
  const timeoutMs = options.timeoutMs ?? 3000;
  const now = options.now ?? (() => Date.now() / 1000);
  let cached: FetchedToken | undefined;
  let inflight: Promise<FetchedToken> | undefined;
  return {
    async getToken(signal) {
      if (cached && cached.expiresAt - margin > now()) return cached.token;
      if (!inflight) {
        // The shared fetch is bounded by its own timeout, not by the first caller's signal, so one
        // impatient caller cannot fail the others.
        inflight = fetchToken(AbortSignal.timeout(timeoutMs)).finally(() => {
          inflight = undefined;
        });
        inflight.then(
          (fresh) => {
            cached = fresh;
          },
          () => undefined,
        );
      }
      const pending = inflight;
      if (!signal) return (await pending).token;
      signal.throwIfAborted();
      return new Promise<string>((resolve, reject) => {
        const onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        pending.then(
          (t) => {
            signal.removeEventListener('abort', onAbort);
            resolve(t.token);
          },
          (e: unknown) => {
            signal.removeEventListener('abort', onAbort);
            reject(e);
          },
        );
      });
    },
    invalidate() {
      cached = undefined;
    },
  };
}

/** Fetches tokens from an OAuth token endpoint with the client credentials grant (Basic auth). */
export function clientCredentialsFetcher(options: {
  tokenUrl: string | URL;
  clientId: string;
  clientSecret: string;
  /** Space-separated; omitted means every scope the client may have. */
  scope?: string;
  fetch?: typeof fetch;
}): TokenFetcher {
  const doFetch = options.fetch ?? fetch;
  // RFC 6749 §2.3.1: id and secret are form-urlencoded before they go into the Basic credentials.
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  const basic = Buffer.from(`${encode(options.clientId)}:${encode(options.clientSecret)}`).toString('base64');
  return async (signal) => {
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (options.scope !== undefined) form.set('scope', options.scope);
    let response: Response;
    try {
      response = await doFetch(options.tokenUrl, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: form,
        signal,
      });
    } catch (error) {
      throw networkError('the token endpoint', error);
    }
    const body = (await response.json().catch(() => null)) as Record<string, unknown> | null;
    if (!response.ok) {
      const remote = typeof body?.error === 'string' ? body.error : undefined;
      const code = response.status >= 500 || response.status === 429 ? 'unavailable' : 'unauthorized';
      throw new MediaClientError(
        code,
        `the token endpoint answered ${response.status} ${remote ?? ''}`.trim(),
        {
          status: response.status,
          ...(remote === undefined ? {} : { remoteCode: remote }),
        },
      );
    }
    if (
      typeof body?.access_token !== 'string' ||
      typeof body.expires_in !== 'number' ||
      String(body.token_type).toLowerCase() !== 'bearer'
    ) {
      throw new MediaClientError('bad_response', 'the token endpoint answered without a Bearer access_token');
    }
    return { token: body.access_token, expiresAt: Date.now() / 1000 + body.expires_in };
  };
}
