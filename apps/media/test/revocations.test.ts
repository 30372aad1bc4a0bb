/**
 * Media's side of revocation (CONTRACT.md, Revocation), against a small HTTP server that speaks the
 * gateway's feed protocol (`@stagedoor/shared/revocations`) and lets each test decide what the feed does:
 * the real gateway is in tests/integration. A revoked session's token is refused with 401
 * `token_revoked` even when its verification is cached; a feed that is down leaves media serving, says
 * so in /readyz, is logged once, and is retried with the injected backoff until its snapshot is back.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { sseMessage } from '@stagedoor/shared/revocations';
import { scrape } from '@stagedoor/testkit/prometheus';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, loggerOptions } from '../src/app.js';
import { loadMediaConfig } from '../src/config.js';
import { RevocationList } from '../src/revocation-list.js';
import { useMedia } from './support.js';

const KEY = 'catalog/a.wav';
const h = useMedia();

/** The feed's behaviour, set by each test: answer with a status, or hold a stream open. */
let feedStatus = 200;
let snapshot: { sid: string; exp: number }[] = [];
const streams = new Set<ServerResponse>();
let feedRequests = 0;
let server: Server;
let feedUrl: string;

function broadcast(event: string, data: unknown) {
  for (const res of streams) res.write(sseMessage(event, data));
}

beforeAll(async () => {
  await h.putObject(KEY, 'abcdef');
  server = createServer((req, res) => {
    if (req.url === '/oauth/token') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          access_token: 'opaque',
          token_type: 'Bearer',
          expires_in: 300,
          scope: 'revocations:read',
        }),
      );
      return;
    }
    feedRequests += 1;
    if (feedStatus !== 200) {
      res.writeHead(feedStatus, { 'content-type': 'application/json' }).end('{"error":"x","message":"x"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(sseMessage('snapshot', { revocations: snapshot }));
    streams.add(res);
    res.on('close', () => streams.delete(res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  feedUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/internal/revocations`;
});
afterAll(async () => {
  for (const res of streams) res.destroy();
  await new Promise((r) => server?.close(r));
});

async function mediaWithFeed(
  options: { backoff?: (attempt: number) => number; lines?: string[]; metrics?: boolean } = {},
): Promise<FastifyInstance> {
  const sink = new Writable({
    write(chunk, _e, callback) {
      options.lines?.push(String(chunk));
      callback();
    },
  });
  const loggerInstance = pino({ ...(loggerOptions({ logLevel: 'info' }) as object) }, sink);
  const config = loadMediaConfig({
    ...h.env,
    REVOCATION_FEED_URL: feedUrl,
    REVOCATION_STARTUP_WAIT_MS: '2000',
  });
  // A free loopback port (the environment's METRICS_PORT=0 would mean none).
  if (options.metrics) config.metrics = { host: '127.0.0.1', port: 0 };
  return buildApp(config, {
    loggerInstance,
    ...(options.backoff ? { revocationFeedBackoffMs: options.backoff } : {}),
  });
}

async function waitFor(condition: () => boolean | Promise<boolean>, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('a revoked session', () => {
  it('is refused with 401 token_revoked, also when its token was verified (and cached) before', async () => {
    feedStatus = 200;
    snapshot = [{ sid: 'ses_from_snapshot', exp: Date.now() / 1000 + 60 }];
    const app = await mediaWithFeed();
    try {
      await app.ready();
      const token = await h.mediaToken(KEY); // sid "session-1"
      expect((await app.inject({ url: `/v1/objects/${KEY}?token=${token}` })).statusCode).toBe(200);
      expect(app.revocations.isRevoked('ses_from_snapshot')).toBe(true);
      broadcast('revoked', { sid: 'session-1', exp: Date.now() / 1000 + 60 });
      await waitFor(() => app.revocations.isRevoked('session-1'));
      for (const url of [`/v1/objects/${KEY}?token=${token}`, `/v1/t/${token}/${KEY}`]) {
        const res = await app.inject({ url });
        expect(res.statusCode).toBe(401);
        expect(res.json()).toEqual({ error: 'token_revoked', message: expect.any(String) });
        expect(res.headers['www-authenticate']).toContain('invalid_token');
      }
      // A service token carries no session and is not affected.
      const service = await h.serviceToken('media:read');
      const read = await app.inject({
        url: `/v1/objects/${KEY}`,
        headers: { authorization: `Bearer ${service}` },
      });
      expect(read.statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe('the feed down', () => {
  it('media serves on, /readyz is 200 "degraded", one log line, retries with the injected backoff, and catches up', async () => {
    feedStatus = 503;
    snapshot = [];
    const lines: string[] = [];
    const attempts: number[] = [];
    const app = await mediaWithFeed({
      lines,
      backoff: (attempt) => {
        attempts.push(attempt);
        return 20;
      },
    });
    try {
      await app.ready(); // waits REVOCATION_STARTUP_WAIT_MS, then starts without the feed
      const token = await h.mediaToken(KEY);
      expect((await app.inject({ url: `/v1/objects/${KEY}?token=${token}` })).statusCode).toBe(200);
      const ready = await app.inject({ url: '/readyz' });
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toMatchObject({
        status: 'degraded',
        details: { revocationFeed: { ok: false, state: 'down' } },
      });
      await waitFor(() => attempts.length >= 5);
      expect(attempts.slice(0, 5)).toEqual([1, 2, 3, 4, 5]);
      const warnings = lines.filter((l) => l.includes('revocation feed unreachable'));
      expect(warnings).toHaveLength(1);

      // Back, with a revocation made meanwhile in its snapshot.
      snapshot = [{ sid: 'session-1', exp: Date.now() / 1000 + 60 }];
      feedStatus = 200;
      await waitFor(() => app.revocations.isRevoked('session-1'));
      expect((await app.inject({ url: `/v1/objects/${KEY}?token=${token}` })).json().error).toBe(
        'token_revoked',
      );
      expect((await app.inject({ url: '/readyz' })).json()).toMatchObject({
        status: 'ready',
        details: { revocationFeed: { ok: true, state: 'up' } },
      });
      expect(lines.filter((l) => l.includes('revocation feed back'))).toHaveLength(1);
      // Nothing secret in those lines: the token, the client secret.
      expect(lines.join('\n')).not.toContain(token.split('.')[2]);
      expect(lines.join('\n')).not.toContain('demo-media-feed-secret');
    } finally {
      await app.close();
      feedStatus = 200;
    }
  });

  it('a stream the gateway ends is followed again at once, with a fresh snapshot', async () => {
    feedStatus = 200;
    snapshot = [];
    const app = await mediaWithFeed({ backoff: () => 60_000 });
    try {
      await app.ready();
      const before = feedRequests;
      for (const res of streams) res.end();
      snapshot = [{ sid: 'ses_after_reconnect', exp: Date.now() / 1000 + 60 }];
      await waitFor(() => app.revocations.isRevoked('ses_after_reconnect'));
      expect(feedRequests).toBe(before + 1);
    } finally {
      await app.close();
    }
  });
});

describe('RevocationList', () => {
  it('forgets an entry once every token that could carry its sid has expired', () => {
    let now = 1000;
    const list = new RevocationList(() => now);
    list.add({ sid: 'a', exp: 1010 });
    list.add({ sid: 'a', exp: 1005 }); // an older word never shortens it
    list.add({ sid: 'past', exp: 999 });
    expect(list.isRevoked('a')).toBe(true);
    expect(list.isRevoked('past')).toBe(false);
    now = 1010;
    expect(list.isRevoked('a')).toBe(false);
    list.sweep();
    expect(list.size).toBe(0);
    list.close();
  });
});

describe('the metrics of revocation', () => {
  it('count a revoked token under outcome "revoked", and the feed gauge follows the feed', async () => {
    feedStatus = 200;
    snapshot = [];
    const app = await mediaWithFeed({ metrics: true, backoff: () => 20 });
    try {
      await app.ready();
      const port = app.metrics.port() ?? 0;
      const revoked = { outcome: 'revoked' };
      await waitFor(async () => (await scrape(port)).value('stagedoor_revocation_feed_up') === 1);
      const before = (await scrape(port)).value('stagedoor_token_verifications_total', revoked);
      const token = await h.mediaToken(KEY); // sid "session-1"
      broadcast('revoked', { sid: 'session-1', exp: Date.now() / 1000 + 60 });
      await waitFor(() => app.revocations.isRevoked('session-1'));
      for (let i = 0; i < 3; i++) {
        expect((await app.inject({ url: `/v1/objects/${KEY}?token=${token}` })).statusCode).toBe(401);
      }
      expect((await scrape(port)).value('stagedoor_token_verifications_total', revoked) - before).toBe(3);
      // The gateway goes away: the stream ends and reconnects are refused.
      feedStatus = 503;
      for (const res of streams) res.destroy();
      await waitFor(async () => (await scrape(port)).value('stagedoor_revocation_feed_up') === 0);
      feedStatus = 200;
      await waitFor(async () => (await scrape(port)).value('stagedoor_revocation_feed_up') === 1, 5000);
    } finally {
      feedStatus = 200;
      await app.close();
    }
  });
});
