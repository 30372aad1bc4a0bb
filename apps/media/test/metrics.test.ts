/**
 * Media's Prometheus metrics (CONTRACT.md, Metrics): after a known mix of traffic, a scrape of the metrics
 * listener shows exactly that mix; bytes are what the client got; cut-off downloads bring the active
 * streams back to 0; random URLs do not grow the label sets; nothing is served on the public port.
 */
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import { mintMediaToken } from '@stagedoor/shared/tokens/mint';
import { generateTestKey } from '@stagedoor/testkit/keys';
import { type Exposition, scrape } from '@stagedoor/testkit/prometheus';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadMediaConfig } from '../src/config.js';
import { ISSUER, patternBytes, useMedia } from './support.js';

const h = useMedia({ metrics: true });
const SMALL = 'catalog/metrics-small.bin';
const SMALL_SIZE = 300_000;
const BIG = 'catalog/metrics-big.bin';
const BIG_SIZE = 24 * 1024 * 1024;
const RANGE = 64 * 1024;
let port = 0;
let metricsPort = 0;

beforeAll(async () => {
  await h.putObject(SMALL, patternBytes(SMALL_SIZE), 'application/octet-stream');
  await h.putObject(BIG, patternBytes(BIG_SIZE), 'application/octet-stream');
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  port = (h.app.server.address() as AddressInfo).port;
  metricsPort = h.app.metrics.port() ?? 0;
});

/** One GET read to its end: status and the body bytes the client received. */
function download(
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      })
      .on('error', reject);
  });
}

/** Starts a download, reads at least `bytes` of the body, then destroys the socket. */
function abortAfter(path: string, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let seen = 0;
      res.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen >= bytes) {
          req.destroy();
          resolve(seen);
        }
      });
    });
    req.on('error', (error) => {
      if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(error);
    });
  });
}

async function waitFor(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

const tokens = (e: Exposition, outcome: string) =>
  e.value('stagedoor_token_verifications_total', { outcome });
const requests = (e: Exposition, route: string, status: number, method = 'GET') =>
  e.count('http_request_duration_seconds', { method, route, status_code: String(status) });
const storage = (e: Exposition, operation: string, status: string) =>
  e.count('stagedoor_storage_request_duration_seconds', { operation, status });

describe('media metrics', () => {
  it('serves the contract metrics on its own listener, and nothing on the public port', async () => {
    expect(metricsPort).toBeGreaterThan(0);
    expect(metricsPort).not.toBe(port);
    const e = await scrape(metricsPort);
    for (const [name, type] of [
      ['http_request_duration_seconds', 'HISTOGRAM'],
      ['process_cpu_seconds_total', 'COUNTER'],
      ['process_resident_memory_bytes', 'GAUGE'],
      ['nodejs_eventloop_lag_seconds', 'GAUGE'],
      ['stagedoor_token_verifications_total', 'COUNTER'],
      ['stagedoor_streams_active', 'GAUGE'],
      ['stagedoor_bytes_sent_total', 'COUNTER'],
      ['stagedoor_storage_request_duration_seconds', 'HISTOGRAM'],
      ['stagedoor_revocation_feed_up', 'GAUGE'],
    ]) {
      expect([name, e.families.get(name as string)]).toEqual([name, type]);
    }
    // Every outcome exists from the start, at 0.
    expect(
      e
        .labelSets('stagedoor_token_verifications_total')
        .map((l) => l.outcome)
        .sort(),
    ).toEqual(['expired', 'forbidden', 'invalid', 'ok', 'revoked']);
    const pub = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(pub.status).toBe(404);
    expect(await pub.text()).not.toContain('stagedoor_');
    const elsewhere = await fetch(`http://127.0.0.1:${metricsPort}/v1/objects/${SMALL}`);
    expect(elsewhere.status).toBe(404);
  });

  it('counts a known mix of traffic exactly', async () => {
    const before = await scrape(metricsPort);
    const token = await h.mediaToken('catalog/');

    // A full download and three 64 KiB ranges: the bytes the client got, exactly.
    const full = await download(`/v1/objects/${SMALL}?token=${token}`);
    expect([full.status, full.body.length]).toEqual([200, SMALL_SIZE]);
    for (const start of [0, RANGE, 3 * RANGE]) {
      const part = await download(`/v1/t/${token}/${SMALL}`, {
        range: `bytes=${start}-${start + RANGE - 1}`,
      });
      expect([part.status, part.body.length]).toEqual([206, RANGE]);
    }
    // s3rver answers `bytes=0-0` with the whole object and media cuts the one byte out: one byte reached the
    // client, however much storage sent.
    const one = await download(`/v1/objects/${SMALL}?token=${token}`, { range: 'bytes=0-0' });
    expect([one.status, one.body.length]).toEqual([206, 1]);
    // Refused tokens: a forged one (a key media does not know), a malformed one, none at all, an expired
    // one, and a valid one for a key it does not cover.
    const stranger = await generateTestKey('not-the-gateway');
    const forged = (
      await mintMediaToken({
        key: stranger,
        issuer: ISSUER,
        subject: 'user-1',
        sid: 'session-1',
        grant: { kind: 'key', key: SMALL },
        ttlSeconds: 300,
      })
    ).token;
    const expired = await h.mediaToken(SMALL, {
      ttlSeconds: 60,
      issuedAt: Math.floor(Date.now() / 1000) - 600,
    });
    const other = await h.mediaToken('users/someone-else/');
    const refused = [
      [`/v1/objects/${SMALL}?token=${forged}`, 401],
      [`/v1/objects/${SMALL}?token=not.a.token`, 401],
      [`/v1/objects/${SMALL}`, 401],
      [`/v1/objects/${SMALL}?token=${expired}`, 401],
      [`/v1/objects/${SMALL}?token=${other}`, 403],
    ] as const;
    for (const [path, status] of refused)
      expect((await fetch(`http://127.0.0.1:${port}${path}`)).status).toBe(status);

    // A response's last write may call back just after its client has read the bytes: wait until every
    // stream has closed (that is after its last write), then compare.
    const completed = (e: Exposition) => e.value('stagedoor_streams_total', { outcome: 'completed' });
    expect(
      await waitFor(async () => completed(await scrape(metricsPort)) - completed(before) === 5, 5000),
    ).toBe(true);
    const after = await scrape(metricsPort);
    const delta = (f: (e: Exposition) => number) => f(after) - f(before);
    expect(delta((e) => e.value('stagedoor_bytes_sent_total'))).toBe(SMALL_SIZE + 3 * RANGE + 1);
    expect(delta((e) => tokens(e, 'ok'))).toBe(5);
    expect(delta((e) => tokens(e, 'invalid'))).toBe(3);
    expect(delta((e) => tokens(e, 'expired'))).toBe(1);
    expect(delta((e) => tokens(e, 'forbidden'))).toBe(1);
    expect(delta((e) => tokens(e, 'revoked'))).toBe(0);
    expect(delta((e) => requests(e, '/v1/objects/*', 200))).toBe(1);
    expect(delta((e) => requests(e, '/v1/t/*', 206))).toBe(3);
    expect(delta((e) => requests(e, '/v1/objects/*', 206))).toBe(1);
    expect(delta((e) => requests(e, '/v1/objects/*', 401))).toBe(4);
    expect(delta((e) => requests(e, '/v1/objects/*', 403))).toBe(1);
    expect(delta((e) => storage(e, 'GetObject', '200'))).toBe(1);
    expect(delta((e) => storage(e, 'GetObject', '206')) + delta((e) => storage(e, 'GetObject', '200'))).toBe(
      5,
    );
    expect(after.value('stagedoor_streams_active')).toBe(0);
    expect(after.value('stagedoor_revocation_feed_up')).toBe(0);
  });

  it('brings the active streams back to 0 after downloads the clients cut off, counting only what was written', async () => {
    const before = await scrape(metricsPort);
    const token = await h.mediaToken(BIG);
    const path = `/v1/objects/${BIG}?token=${token}`;
    // While a stream is open it is counted as active.
    const held = await new Promise<http.ClientRequest>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        res.once('data', () => {
          res.pause();
          resolve(req);
        });
      });
      req.on('error', () => undefined);
    });
    expect((await scrape(metricsPort)).value('stagedoor_streams_active')).toBe(1);
    held.destroy();
    const read = await Promise.all([abortAfter(path, 256 * 1024), abortAfter(path, 1024 * 1024)]);
    expect(
      await waitFor(async () => (await scrape(metricsPort)).value('stagedoor_streams_active') === 0, 5000),
    ).toBe(true);
    const after = await scrape(metricsPort);
    const sent = after.value('stagedoor_bytes_sent_total') - before.value('stagedoor_bytes_sent_total');
    // At least what the clients read, and far less than three whole objects: bytes storage delivered after
    // the clients left are not counted (the socket never wrote them).
    expect(sent).toBeGreaterThanOrEqual(read[0] + read[1]);
    expect(sent).toBeLessThan(BIG_SIZE);
    expect(
      after.value('stagedoor_streams_total', { outcome: 'aborted' }) -
        before.value('stagedoor_streams_total', { outcome: 'aborted' }),
    ).toBe(3);
    expect(
      after.value('stagedoor_token_verifications_total', { outcome: 'ok' }) -
        before.value('stagedoor_token_verifications_total', { outcome: 'ok' }),
    ).toBe(3);
  });

  it('keeps label sets bounded whatever URLs clients send', async () => {
    const before = (await scrape(metricsPort)).labelSets('http_request_duration_seconds_count').length;
    const token = await h.mediaToken('catalog/');
    for (let i = 0; i < 60; i++) {
      const junk = randomBytes(6).toString('hex');
      await fetch(`http://127.0.0.1:${port}/${junk}/${junk}?q=${junk}`);
      await fetch(`http://127.0.0.1:${port}/v1/objects/catalog/${junk}.wav?token=${token}`);
      await fetch(`http://127.0.0.1:${port}/v1/t/${junk}/catalog/${junk}`);
    }
    const after = await scrape(metricsPort);
    const sets = after.labelSets('http_request_duration_seconds_count');
    // 180 distinct URLs add at most three series (unmatched 404, object 404, path-token 401).
    expect(sets.length - before).toBeLessThanOrEqual(3);
    const routes = new Set(sets.map((l) => l.route));
    for (const route of routes)
      expect(['unmatched', '/v1/objects/*', '/v1/t/*', '/healthz', '/readyz']).toContain(route);
    expect(routes.has('unmatched')).toBe(true);
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(text).not.toContain('catalog/');
    expect(text).not.toContain(token);
  });

  it('times storage requests by operation and status, and counts an outage as errors', async () => {
    // A storage that refuses connections: a port that was free a moment ago.
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const closed = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const config = loadMediaConfig({
      ...h.env,
      S3_ENDPOINT: `http://127.0.0.1:${closed}`,
      S3_MAX_ATTEMPTS: '2',
    });
    config.metrics = { host: '127.0.0.1', port: 0 };
    const app = await buildApp(config, { logger: false });
    let down = 0;
    try {
      await app.ready();
      down = app.metrics.port() ?? 0;
      const token = await h.mediaToken(SMALL);
      const res = await app.inject({ url: `/v1/objects/${SMALL}?token=${token}` });
      expect([res.statusCode, res.json().error]).toEqual([503, 'storage_unavailable']);
      const e = await scrape(down);
      expect(storage(e, 'GetObject', 'error')).toBe(2); // both attempts
      expect(requests(e, '/v1/objects/*', 503)).toBe(1);
      expect(tokens(e, 'ok')).toBe(1);
      expect(e.value('stagedoor_bytes_sent_total')).toBe(0);
      expect(e.value('stagedoor_streams_active')).toBe(0);
    } finally {
      await app.close();
    }
    // Closed with the app: its listener no longer answers.
    await expect(fetch(`http://127.0.0.1:${down}/metrics`)).rejects.toThrow();
  });

  it('is off with METRICS_PORT=0 or unset, and refuses the public port', () => {
    expect(loadMediaConfig({ ...h.env, METRICS_PORT: '0' }).metrics).toBeUndefined();
    expect(loadMediaConfig({ ...h.env }).metrics).toBeUndefined();
    expect(loadMediaConfig({ ...h.env, METRICS_PORT: '9465' }).metrics).toEqual({
      host: '127.0.0.1',
      port: 9465,
    });
    expect(() => loadMediaConfig({ ...h.env, PORT: '9000', METRICS_PORT: '9000' })).toThrow(
      /METRICS_PORT must differ/,
    );
  });
});
