/**
 * Revocation at the gateway (CONTRACT.md, Revocation): every action that ends a session records it and
 * pushes it to media's feed (`GET /internal/revocations`, a service token with `revocations:read`) and to
 * that session's open page (`GET /auth/events`), on this instance and on every other one sharing Redis.
 */
import type { ChildProcess } from 'node:child_process';
import { DEMO_REVOCATION_FEED_CLIENT, DEMO_SERVICE_CLIENT } from '@stagedoor/shared/demo';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildTestApp,
  DEMO_ADMIN,
  DEMO_LISTENER,
  login,
  randomPrefix,
  STORE_KINDS,
  testConfig,
} from './support/gateway.js';
import { freePort, startRedis, stopRedis } from './support/redis-servers.js';
import { openSse, type SseEvent, type SseReader } from './support/sse.js';

async function serviceToken(url: string, client: { id: string; secret: string }, scope?: string) {
  const form = new URLSearchParams({ grant_type: 'client_credentials', ...(scope ? { scope } : {}) });
  const res = await fetch(`${url}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: form,
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

async function sessionId(app: FastifyInstance, cookie: string): Promise<string> {
  return (await app.inject({ url: '/auth/me', headers: { cookie } })).json().session.id;
}

function unsafe(
  app: FastifyInstance,
  who: { cookie: string; csrfToken: string },
  method: 'POST' | 'DELETE',
  url: string,
) {
  return app.inject({ method, url, headers: { cookie: who.cookie, 'x-csrf-token': who.csrfToken } });
}

async function feed(url: string): Promise<SseReader> {
  const token = await serviceToken(url, DEMO_REVOCATION_FEED_CLIENT);
  const { status, reader } = await openSse(`${url}/internal/revocations`, {
    authorization: `Bearer ${token}`,
  });
  expect(status).toBe(200);
  return reader as SseReader;
}

describe.each(STORE_KINDS)('with %s stores', (kind) => {
  let app: FastifyInstance;
  let url: string;
  beforeAll(async () => {
    app = await buildTestApp(testConfig(kind));
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => app?.close());

  it('the feed refuses a missing token, a cookie, and a service token without revocations:read', async () => {
    const none = await openSse(`${url}/internal/revocations`);
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ error: 'invalid_token' });
    const user = await login(app);
    expect((await openSse(`${url}/internal/revocations`, { cookie: user.cookie })).status).toBe(401);
    const ingest = await serviceToken(url, DEMO_SERVICE_CLIENT);
    const wrongScope = await openSse(`${url}/internal/revocations`, { authorization: `Bearer ${ingest}` });
    expect(wrongScope.status).toBe(403);
    expect(wrongScope.body).toMatchObject({ error: 'forbidden' });
    const forged = await openSse(`${url}/internal/revocations`, {
      authorization: `Bearer ${ingest.slice(0, -4)}AAAA`,
    });
    expect(forged.status).toBe(401);
  });

  it('sends a snapshot on connect, then each ended session as it happens; a reconnect has it in its snapshot', async () => {
    const reader = await feed(url);
    const first = await reader.next();
    expect(first?.event).toBe('snapshot');
    const user = await login(app);
    const sid = await sessionId(app, user.cookie);
    const initial = (first as SseEvent).data as { revocations: { sid: string }[] };
    expect(initial.revocations.map((r) => r.sid)).not.toContain(sid);
    const before = Math.floor(Date.now() / 1000);
    expect((await unsafe(app, user, 'POST', '/auth/logout')).statusCode).toBe(204);
    const live = await reader.next();
    expect(live?.event).toBe('revoked');
    const entry = live?.data as { sid: string; exp: number };
    expect(entry.sid).toBe(sid);
    // Kept until every token that could carry it has expired: the media token TTL (300) + 5 s tolerance.
    expect(entry.exp).toBeGreaterThanOrEqual(before + 305);
    expect(entry.exp).toBeLessThanOrEqual(before + 307);
    reader.close();
    const again = await feed(url);
    const snapshot = (await again.next())?.data as { revocations: { sid: string }[] };
    expect(snapshot.revocations.map((r) => r.sid)).toContain(sid);
    again.close();
  });

  it('forgets an entry once it has expired', async () => {
    await app.stores.revocations.publish([
      { sid: 'ses_gone', exp: Date.now() / 1000 - 1, reason: 'logout' },
      { sid: 'ses_kept', exp: Date.now() / 1000 + 60, reason: 'logout' },
    ]);
    const sids = (await app.stores.revocations.snapshot()).map((r) => r.sid);
    expect(sids).toContain('ses_kept');
    expect(sids).not.toContain('ses_gone');
  });

  it("a device revoked elsewhere: its page's event stream says why and ends; another session's stays open", async () => {
    const phone = await login(app);
    const laptop = await login(app);
    const phoneEvents = (await openSse(`${url}/auth/events`, { cookie: phone.cookie })).reader as SseReader;
    const laptopEvents = (await openSse(`${url}/auth/events`, { cookie: laptop.cookie })).reader as SseReader;
    const phoneId = await sessionId(app, phone.cookie);
    expect((await unsafe(app, laptop, 'DELETE', `/auth/sessions/${phoneId}`)).statusCode).toBe(204);
    expect(await phoneEvents.next()).toEqual({ event: 'session-ended', data: { reason: 'revoked' } });
    await phoneEvents.ended;
    await expect(laptopEvents.next(300)).rejects.toThrow('no event in time');
    laptopEvents.close();
    expect((await openSse(`${url}/auth/events`, { cookie: phone.cookie })).status).toBe(401);
  });

  it('each kind of end reaches the page with its reason', async () => {
    const cases: Array<
      [string, (victim: Awaited<ReturnType<typeof login>>) => Promise<{ statusCode: number }>]
    > = [
      ['logout', (v) => unsafe(app, v, 'POST', '/auth/logout')],
      ['logout_all', (v) => unsafe(app, v, 'POST', '/auth/logout-all')],
      [
        'admin',
        async () => {
          const admin = await login(app, DEMO_ADMIN.email, DEMO_ADMIN.password);
          return unsafe(app, admin, 'DELETE', `/admin/users/${DEMO_LISTENER.id}/sessions`);
        },
      ],
    ];
    for (const [reason, act] of cases) {
      const victim = await login(app);
      const events = (await openSse(`${url}/auth/events`, { cookie: victim.cookie })).reader as SseReader;
      expect((await act(victim)).statusCode).toBe(204);
      expect(await events.next()).toEqual({ event: 'session-ended', data: { reason } });
    }
  });
  it('a password change and disabling the user reach the pages of the sessions they end', async () => {
    const email = `rev-${Date.now()}@example.com`;
    const user = await app.users.create({
      email,
      name: 'Revoked',
      role: 'user',
      password: 'first-password-1',
    });
    const victim = await login(app, email, 'first-password-1');
    const changer = await login(app, email, 'first-password-1');
    const events = (await openSse(`${url}/auth/events`, { cookie: victim.cookie })).reader as SseReader;
    const changed = await app.inject({
      method: 'POST',
      url: '/auth/password',
      payload: { currentPassword: 'first-password-1', newPassword: 'second-password-2' },
      headers: { cookie: changer.cookie, 'x-csrf-token': changer.csrfToken },
    });
    expect(changed.statusCode).toBe(204);
    expect(await events.next()).toEqual({ event: 'session-ended', data: { reason: 'password_changed' } });

    const again = await login(app, email, 'second-password-2');
    const laterEvents = (await openSse(`${url}/auth/events`, { cookie: again.cookie })).reader as SseReader;
    const admin = await login(app, DEMO_ADMIN.email, DEMO_ADMIN.password);
    expect((await unsafe(app, admin, 'POST', `/admin/users/${user.id}/disable`)).statusCode).toBe(204);
    expect(await laterEvents.next()).toEqual({ event: 'session-ended', data: { reason: 'disabled' } });
  });
});

describe('two instances on one Redis', () => {
  const prefix = randomPrefix();
  let a: FastifyInstance;
  let b: FastifyInstance;
  let urlB: string;
  beforeAll(async () => {
    a = await buildTestApp(testConfig('redis', {}, prefix));
    b = await buildTestApp(testConfig('redis', {}, prefix));
    await a.listen({ host: '127.0.0.1', port: 0 });
    urlB = await b.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it("a session ended through A reaches B's feed and the page connected to B", async () => {
    const user = await login(a);
    const sid = await sessionId(a, user.cookie);
    const mediaFeed = await feed(urlB);
    expect((await mediaFeed.next())?.event).toBe('snapshot');
    const page = (await openSse(`${urlB}/auth/events`, { cookie: user.cookie })).reader as SseReader;
    expect((await unsafe(a, user, 'POST', '/auth/logout')).statusCode).toBe(204);
    expect(await mediaFeed.next()).toMatchObject({ event: 'revoked', data: { sid } });
    expect(await page.next()).toEqual({ event: 'session-ended', data: { reason: 'logout' } });
    mediaFeed.close();
  });
});

describe('the link between instances lost and back', () => {
  let port: number;
  let redis: ChildProcess;
  let app: FastifyInstance;
  let url: string;
  beforeAll(async () => {
    port = await freePort();
    redis = await startRedis(port);
    app = await buildTestApp(testConfig('redis', { REDIS_URL: `redis://127.0.0.1:${port}/0` }));
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await app?.close();
    if (redis) await stopRedis(redis);
  });

  it('ends the feed streams (their reconnect brings a fresh snapshot) and serves live events once Redis is back', async () => {
    const subscribed = () => (app.stores.revocations as unknown as { subscribed: boolean }).subscribed;
    await expect.poll(subscribed).toBe(true);
    const reader = await feed(url);
    expect((await reader.next())?.event).toBe('snapshot');
    await stopRedis(redis);
    // Revocations published by other instances meanwhile would be missed: the stream ends at once.
    await reader.ended;
    redis = await startRedis(port);
    await expect.poll(subscribed, { timeout: 10_000 }).toBe(true);
    const again = await feed(url);
    expect((await again.next())?.event).toBe('snapshot');
    await app.stores.revocations.publish([
      { sid: 'ses_after_outage', exp: Date.now() / 1000 + 60, reason: 'logout' },
    ]);
    expect(await again.next()).toEqual({
      event: 'revoked',
      data: { sid: 'ses_after_outage', exp: expect.any(Number) },
    });
    again.close();
  });
});
