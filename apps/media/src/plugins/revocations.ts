/**
 * `app.revocations`: which sessions media refuses, and the responses streaming for each (CONTRACT.md,
 * Revocation). Fed by `RevocationFeedClient` (the gateway's feed, started with the app) into a
 * `RevocationList`. The token verifier asks `isRevoked(sid)` on every request, the cached path included;
 * `admit(sid, response)` checks once more and registers the response in the same synchronous step, so a
 * revocation arriving between the two cannot miss it; a revocation (live or in a snapshot) destroys every
 * registered response of that session at once. `/readyz` reports the feed's state as a detail.
 */
import type { ServerResponse } from 'node:http';
import { cachedTokenSource, clientCredentialsFetcher } from '@stagedoor/media-client/token-source';
import { REVOCATIONS_SCOPE, type RevocationEntry } from '@stagedoor/shared/revocations';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { MediaConfig } from '../config.js';
import { TokenRevoked } from '../errors.js';
import { exponentialBackoff, type FeedState, RevocationFeedClient } from '../revocation-feed-client.js';
import { RevocationList } from '../revocation-list.js';

export interface Revocations {
  isRevoked(sid: string): boolean;
  /** Throws 401 `token_revoked` for a revoked session; else tracks `response` until it closes. */
  admit(sid: string, response: ServerResponse): void;
  feed(): { state: FeedState; since: Date };
  readonly list: RevocationList;
}

declare module 'fastify' {
  interface FastifyInstance {
    revocations: Revocations;
  }
}

export interface RevocationsOptions {
  config: MediaConfig;
  /** Reconnect delays after failures (tests inject short ones). */
  backoffMs?: (attempt: number) => number;
  /** Media's clock (entries are forgotten at their expiry by it). */
  nowSeconds?: () => number;
}

export function tokenRevokedError(): Error {
  return Object.assign(new TokenRevoked('the session this token belongs to has ended'), {
    headers: { 'www-authenticate': 'Bearer realm="stagedoor-media", error="invalid_token"' },
  });
}

async function revocationsPlugin(app: FastifyInstance, opts: RevocationsOptions): Promise<void> {
  const { revocationFeed: cfg } = opts.config;
  const list = new RevocationList(opts.nowSeconds);
  const streaming = new Map<string, Set<ServerResponse>>();

  const cut = (sid: string) => {
    const responses = streaming.get(sid);
    if (!responses) return;
    streaming.delete(sid);
    // A reset, not a close: bytes already queued for the client are dropped, not delivered.
    for (const response of responses) {
      if (response.socket) response.socket.resetAndDestroy();
      else response.destroy();
    }
  };
  const onRevoked = (entry: RevocationEntry) => {
    list.add(entry);
    if (list.isRevoked(entry.sid)) cut(entry.sid);
  };

  let client: RevocationFeedClient | undefined;
  if (cfg !== null) {
    const tokens = cachedTokenSource(
      clientCredentialsFetcher({
        tokenUrl: cfg.tokenUrl,
        clientId: cfg.clientId,
        clientSecret: cfg.clientSecret,
        scope: REVOCATIONS_SCOPE,
      }),
      { timeoutMs: cfg.connectTimeoutMs },
    );
    client = new RevocationFeedClient({
      url: cfg.url,
      tokens,
      onRevoked,
      onSnapshot: (entries) => {
        for (const entry of entries) list.add(entry);
        for (const sid of [...streaming.keys()]) if (list.isRevoked(sid)) cut(sid);
      },
      backoffMs: opts.backoffMs ?? exponentialBackoff(cfg.retryMinMs, cfg.retryMaxMs),
      onState: (state) => app.metrics.revocationFeedUp(state === 'up'),
      connectTimeoutMs: cfg.connectTimeoutMs,
      log: app.log,
    });
    // Start-up waits (bounded) for the first snapshot, so a replica started after a revocation refuses
    // the token from its first request; a gateway that is away does not stop media from starting.
    const feed = client;
    app.addHook('onReady', async () => {
      feed.start();
      if (cfg.startupWaitMs > 0 && !(await feed.whenUp(cfg.startupWaitMs))) {
        app.log.warn('starting without the revocation feed; it is retried in the background');
      }
    });
  }
  app.addHook('onClose', async () => {
    await client?.stop();
    list.close();
  });

  app.decorate('revocations', {
    list,
    isRevoked: (sid) => list.isRevoked(sid),
    admit(sid, response) {
      if (list.isRevoked(sid)) throw tokenRevokedError();
      let responses = streaming.get(sid);
      if (!responses) {
        responses = new Set();
        streaming.set(sid, responses);
      }
      const set = responses;
      set.add(response);
      response.once('close', () => {
        set.delete(response);
        if (set.size === 0 && streaming.get(sid) === set) streaming.delete(sid);
      });
    },
    feed: () =>
      client ? { state: client.state, since: client.since } : { state: 'off', since: new Date(0) },
  } satisfies Revocations);
}

export default fp(revocationsPlugin, {
  name: 'revocations',
  fastify: '5.x',
  dependencies: ['stagedoor-metrics'],
});
