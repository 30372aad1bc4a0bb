/**
 * The gateway's Prometheus metrics (CONTRACT.md, Metrics): after a known mix of sign-ins, mints and ended
 * sessions, a scrape of the metrics listener shows exactly that mix; routes are labelled by template; random
 * URLs do not grow the label sets; nothing is served on the public port.
 */
import { randomBytes } from 'node:crypto';
import { type Exposition, scrape } from '@stagedoor/testkit/prometheus';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadGatewayConfig } from '../src/config.js';
import {
  buildTestApp,
  DEMO_ADMIN,
  login,
  me,
  STORE_KINDS,
  type StoreKind,
  testConfig,
} from './support/gateway.js';

const LIMITS = { LOGIN_MAX_FAILURES_PER_ACCOUNT: '2', LOGIN_MAX_FAILURES_PER_IP: '1000' };

async function metricsApp(kind: StoreKind, env: Record<string, string> = {}): Promise<FastifyInstance> {
  const config = testConfig(kind, { ...LIMITS, ...env });
  config.metrics = { host: '127.0.0.1', port: 0 };
  return buildTestApp(config);
}

const logins = (e: Exposition, outcome: string) => e.value('stagedoor_logins_total', { outcome });
const ended = (e: Exposition, reason: string) => e.value('stagedoor_sessions_ended_total', { reason });
const requests = (e: Exposition, method: string, route: string, status: number) =>
  e.count('http_request_duration_seconds', { method, route, status_code: String(status) });

function attempt(app: FastifyInstance, email: string, password: string) {
  return app.inject({ method: 'POST', url: '/auth/login', payload: { email, password } });
}

function unsafe(
  app: FastifyInstance,
  method: 'POST' | 'DELETE',
  url: string,
  s: { cookie: string; csrfToken: string },
) {
  return app.inject({ method, url, headers: { cookie: s.cookie, 'x-csrf-token': s.csrfToken } });
}

describe.each(STORE_KINDS)('gateway metrics (%s store)', (kind) => {
  let app: FastifyInstance;
  let port = 0;
  beforeAll(async () => {
    app = await metricsApp(kind);
    port = app.metrics.port() ?? 0;
  });
  afterAll(async () => {
    await app.close();
    // Closed with the app.
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });

  it('serves the contract metrics on a listener of its own, every outcome from 0', async () => {
    expect(port).toBeGreaterThan(0);
    const e = await scrape(port);
    for (const [name, type] of [
      ['http_request_duration_seconds', 'HISTOGRAM'],
      ['process_cpu_seconds_total', 'COUNTER'],
      ['process_resident_memory_bytes', 'GAUGE'],
      ['nodejs_eventloop_lag_seconds', 'GAUGE'],
      ['stagedoor_logins_total', 'COUNTER'],
      ['stagedoor_sessions_ended_total', 'COUNTER'],
      ['stagedoor_media_tokens_minted_total', 'COUNTER'],
    ]) {
      expect([name, e.families.get(name as string)]).toEqual([name, type]);
    }
    expect(
      e
        .labelSets('stagedoor_logins_total')
        .map((l) => l.outcome)
        .sort(),
    ).toEqual(['invalid_credentials', 'rate_limited', 'success']);
    expect(
      e
        .labelSets('stagedoor_sessions_ended_total')
        .map((l) => l.reason)
        .sort(),
    ).toEqual(['admin', 'disabled', 'expired', 'logout', 'logout_all', 'password_changed', 'revoked'].sort());
    // The public app has no /metrics (a 404 like any unknown URL).
    const pub = await app.inject({ url: '/metrics' });
    expect(pub.statusCode).toBe(404);
    expect(pub.body).not.toContain('stagedoor_');
  });

  it('counts sign-ins, mints and ended sessions exactly', async () => {
    const before = await scrape(port);
    const stranger = `nobody-${randomBytes(4).toString('hex')}@example.com`;
    // 3 successes (listener twice, admin once), 2 wrong passwords then 1 refused by the limiter.
    const a = await login(app);
    const b = await login(app);
    const admin = await login(app, DEMO_ADMIN.email, DEMO_ADMIN.password);
    await app.users.create({ email: stranger, name: 'S', role: 'user', password: 'stranger-pass-1234' });
    expect((await attempt(app, stranger, 'wrong-password-1')).statusCode).toBe(401);
    expect((await attempt(app, stranger, 'wrong-password-2')).statusCode).toBe(401);
    expect((await attempt(app, stranger, 'stranger-pass-1234')).statusCode).toBe(429);
    // An unknown email is invalid_credentials too (and counts against that email, not the stranger).
    expect((await attempt(app, `unknown-${stranger}`, 'whatever-1234')).statusCode).toBe(401);
    // Two mints, and one refusal that mints nothing.
    for (const key of ['catalog/evening-tones.wav', 'catalog/morning-bells.wav']) {
      const res = await app.inject({
        method: 'POST',
        url: '/media/tokens',
        headers: { cookie: a.cookie, 'x-csrf-token': a.csrfToken },
        payload: { key },
      });
      expect(res.statusCode).toBe(201);
    }
    const refused = await app.inject({
      method: 'POST',
      url: '/media/tokens',
      headers: { cookie: a.cookie, 'x-csrf-token': a.csrfToken },
      payload: { key: 'users/someone-else/x.wav' },
    });
    expect(refused.statusCode).toBe(403);
    // Sessions: b revokes a (revoked), b signs out (logout); the listener signs in on three devices and
    // signs out everywhere (logout_all: 3); the admin signs out the listener's three new ones (admin: 3).
    const aId = (await me(app, a.cookie)).json().session.id;
    expect((await unsafe(app, 'DELETE', `/auth/sessions/${aId}`, b)).statusCode).toBe(204);
    expect((await unsafe(app, 'POST', '/auth/logout', b)).statusCode).toBe(204);
    const c = await login(app);
    await login(app);
    await login(app);
    expect((await unsafe(app, 'POST', '/auth/logout-all', c)).statusCode).toBe(204);
    await login(app);
    await login(app);
    const listenerId = (await login(app)).response.json().user.id;
    expect((await unsafe(app, 'DELETE', `/admin/users/${listenerId}/sessions`, admin)).statusCode).toBe(204);

    // Another user signs in on three devices and changes the password on one (password_changed: the two
    // others); then the admin disables that user, signed in once more by then (disabled: 2).
    const changer = `changer-${randomBytes(4).toString('hex')}@example.com`;
    await app.users.create({ email: changer, name: 'C', role: 'user', password: 'changer-pass-1234' });
    const s1 = await login(app, changer, 'changer-pass-1234');
    await login(app, changer, 'changer-pass-1234');
    await login(app, changer, 'changer-pass-1234');
    const changed = await app.inject({
      method: 'POST',
      url: '/auth/password',
      headers: { cookie: s1.cookie, 'x-csrf-token': s1.csrfToken },
      payload: { currentPassword: 'changer-pass-1234', newPassword: 'changer-pass-5678' },
    });
    expect(changed.statusCode).toBe(204);
    await login(app, changer, 'changer-pass-5678');
    const changerId = s1.response.json().user.id;
    expect((await unsafe(app, 'POST', `/admin/users/${changerId}/disable`, admin)).statusCode).toBe(204);

    const after = await scrape(port);
    const delta = (f: (e: Exposition) => number) => f(after) - f(before);
    expect(delta((e) => logins(e, 'success'))).toBe(3 + 3 + 3 + 4);
    expect(delta((e) => logins(e, 'invalid_credentials'))).toBe(3);
    expect(delta((e) => logins(e, 'rate_limited'))).toBe(1);
    expect(delta((e) => e.value('stagedoor_media_tokens_minted_total'))).toBe(2);
    expect(delta((e) => ended(e, 'revoked'))).toBe(1);
    expect(delta((e) => ended(e, 'logout'))).toBe(1);
    expect(delta((e) => ended(e, 'logout_all'))).toBe(3);
    expect(delta((e) => ended(e, 'admin'))).toBe(3);
    expect(delta((e) => ended(e, 'password_changed'))).toBe(2);
    expect(delta((e) => ended(e, 'disabled'))).toBe(2);
    expect(delta((e) => ended(e, 'expired'))).toBe(0);
    expect(delta((e) => requests(e, 'POST', '/auth/login', 200))).toBe(13);
    expect(delta((e) => requests(e, 'POST', '/auth/login', 401))).toBe(3);
    expect(delta((e) => requests(e, 'POST', '/auth/login', 429))).toBe(1);
    expect(delta((e) => requests(e, 'POST', '/media/tokens', 201))).toBe(2);
    expect(delta((e) => requests(e, 'POST', '/media/tokens', 403))).toBe(1);
    expect(delta((e) => requests(e, 'DELETE', '/auth/sessions/:id', 204))).toBe(1);
    expect(delta((e) => requests(e, 'DELETE', '/admin/users/:userId/sessions', 204))).toBe(1);
    // Templates only: no session handle or user id ever becomes a label value.
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).not.toContain(aId);
    expect(text).not.toContain(listenerId);
  });

  it('keeps label sets bounded whatever URLs clients send', async () => {
    const s = await login(app);
    const before = (await scrape(port)).labelSets('http_request_duration_seconds_count').length;
    for (let i = 0; i < 100; i++) {
      const junk = randomBytes(8).toString('hex');
      await app.inject({ url: `/${junk}?${junk}=1` });
      await app.inject({ url: `/profile/${junk}`, headers: { cookie: s.cookie } });
      await app.inject({
        method: 'DELETE',
        url: `/auth/sessions/${junk}`,
        headers: { cookie: s.cookie, 'x-csrf-token': s.csrfToken },
      });
    }
    const sets = (await scrape(port)).labelSets('http_request_duration_seconds_count');
    // 300 distinct URLs: at most three new series (unmatched 404, profile 403, session 404).
    expect(sets.length - before).toBeLessThanOrEqual(3);
    expect(new Set(sets.map((l) => l.route))).toContain('unmatched');
    expect(sets.every((l) => l.route === 'unmatched' || l.route?.startsWith('/'))).toBe(true);
    expect(sets.some((l) => /[0-9a-f]{16}/.test(l.route ?? ''))).toBe(false);
  });
});

describe('gateway metrics: expiry', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('counts a session that ran past its idle timeout as expired once', async () => {
    const app = await metricsApp('memory', { SESSION_IDLE_SECONDS: '60' });
    try {
      const port = app.metrics.port() ?? 0;
      const s = await login(app);
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + 61_000);
      expect((await me(app, s.cookie)).statusCode).toBe(401);
      expect((await me(app, s.cookie)).statusCode).toBe(401);
      expect((await scrape(port)).value('stagedoor_sessions_ended_total', { reason: 'expired' })).toBe(1);
    } finally {
      await app.close();
    }
  });
});

describe('gateway metrics: configuration', () => {
  const base = { SESSION_SECRETS: 'x'.repeat(40) };
  it('is off unless METRICS_PORT names a port, on loopback by default, never the public port', async () => {
    expect(loadGatewayConfig(base).metrics).toBeUndefined();
    expect(loadGatewayConfig({ ...base, METRICS_PORT: '0' }).metrics).toBeUndefined();
    expect(loadGatewayConfig({ ...base, METRICS_PORT: '9464' }).metrics).toEqual({
      host: '127.0.0.1',
      port: 9464,
    });
    expect(loadGatewayConfig({ ...base, METRICS_PORT: '9464', METRICS_HOST: '0.0.0.0' }).metrics).toEqual({
      host: '0.0.0.0',
      port: 9464,
    });
    expect(() => loadGatewayConfig({ ...base, PORT: '9464', METRICS_PORT: '9464' })).toThrow(
      /METRICS_PORT must differ/,
    );
    const off = await buildTestApp(testConfig('memory'));
    try {
      expect(off.metrics.port()).toBeUndefined();
      expect(off.metrics.registry).toBeUndefined();
    } finally {
      await off.close();
    }
  });

  it('fails start-up with a one-line reason when the metrics port is taken', async () => {
    const first = await metricsApp('memory');
    const taken = first.metrics.port() ?? 0;
    const config = testConfig('memory');
    config.metrics = { host: '127.0.0.1', port: taken };
    const { buildApp } = await import('../src/app.js');
    const second = await buildApp(config, { logger: false });
    try {
      await expect(second.ready()).rejects.toThrow(
        `metrics port ${taken} is already in use (set METRICS_PORT)`,
      );
    } finally {
      await second.close().catch(() => undefined);
      await first.close();
    }
  });
});
