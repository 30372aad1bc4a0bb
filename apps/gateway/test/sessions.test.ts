/**
 * Sessions and the sign-in routes, run against the real Redis (DB 1, own prefix) and against process
 * memory: same behaviour from both stores.
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildTestApp,
  DEMO_ADMIN,
  DEMO_LISTENER,
  deletePrefix,
  login,
  me,
  randomPrefix,
  SECRET_A,
  SECRET_B,
  SECRET_C,
  STORE_KINDS,
  sessionCookie,
  setCookieName,
  testConfig,
  testRedis,
} from './support/gateway.js';

describe.each(STORE_KINDS)('sessions (%s store)', (kind) => {
  const prefix = randomPrefix();
  let app: FastifyInstance;
  let redis: Redis;
  beforeAll(async () => {
    redis = testRedis();
    app = await buildTestApp(testConfig(kind, {}, prefix));
  });
  afterAll(async () => {
    await app.close();
    await deletePrefix(redis, prefix);
    redis.disconnect();
  });

  it('signs in and answers /auth/me with the user, the session and the CSRF token', async () => {
    const signedIn = await login(app);
    expect(signedIn.response.json()).toEqual({
      user: { id: DEMO_LISTENER.id, email: DEMO_LISTENER.email, name: DEMO_LISTENER.name, role: 'user' },
      csrfToken: expect.any(String),
    });
    const res = await me(app, signedIn.cookie);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.user.id).toBe(DEMO_LISTENER.id);
    expect(body.csrfToken).toBe(signedIn.csrfToken);
    expect(body.session).toEqual({
      id: expect.stringMatching(/^ses_/),
      createdAt: expect.stringMatching(/Z$/),
      lastSeenAt: expect.stringMatching(/Z$/),
      expiresAt: expect.stringMatching(/Z$/),
    });
  });

  it('criterion 4: cookie name and attributes exactly as the contract says', async () => {
    const { setCookie } = await login(app);
    const [pair, ...attrs] = setCookie.split(';').map((s) => s.trim());
    expect(pair).toMatch(/^sid=/);
    expect(attrs.sort()).toEqual(['HttpOnly', 'Path=/', 'SameSite=Lax']);
  });

  it('criterion 4: with COOKIE_SECURE=true the cookie is __Host-sid with Secure, and works', async () => {
    const secure = await buildTestApp(testConfig(kind, { COOKIE_SECURE: 'true' }, prefix));
    try {
      setCookieName(secure, '__Host-sid');
      const s = await login(secure);
      const [pair, ...attrs] = s.setCookie.split(';').map((part) => part.trim());
      expect(pair).toMatch(/^__Host-sid=/);
      expect(attrs.sort()).toEqual(['HttpOnly', 'Path=/', 'SameSite=Lax', 'Secure']);
      expect((await me(secure, s.cookie)).statusCode).toBe(200);
      // The plain name is not read when cookies are secure.
      expect((await me(secure, s.cookie.replace('__Host-sid=', 'sid='))).statusCode).toBe(401);
    } finally {
      await secure.close();
    }
  });

  it('isAlive(publicId) follows the session: true while signed in, false after logout', async () => {
    const s = await login(app);
    const id = (await me(app, s.cookie)).json().session.id;
    expect(await app.sessionStore.isAlive(id)).toBe(true);
    await app.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrfToken },
    });
    expect(await app.sessionStore.isAlive(id)).toBe(false);
    expect(await app.sessionStore.isAlive('ses_unknown')).toBe(false);
  });

  it('criterion 1: the cookie carries ≥128 bits of randomness, signed; the public id is not a cookie', async () => {
    const signedIn = await login(app);
    const [secret, signature] = signedIn.value.split('.');
    expect(Buffer.from(secret ?? '', 'base64url').length).toBeGreaterThanOrEqual(16);
    expect(signature).toBeTruthy();
    const { session } = (await me(app, signedIn.cookie)).json();
    // Neither the public id nor the id "signed" by a guesser works as a cookie.
    expect((await me(app, `sid=${session.id}`)).statusCode).toBe(401);
    expect((await me(app, `sid=${encodeURIComponent(`${session.id}.${signature}`)}`)).statusCode).toBe(401);
    // An altered signature is rejected.
    expect((await me(app, `sid=${encodeURIComponent(`${secret}.${signature}x`)}`)).statusCode).toBe(401);
  });

  it('criterion 2: every login issues a new session and destroys the one it presented', async () => {
    const first = await login(app);
    const second = await login(app, DEMO_LISTENER.email, DEMO_LISTENER.password, { cookie: first.cookie });
    expect(second.value).not.toBe(first.value);
    expect((await me(app, first.cookie)).statusCode).toBe(401);
    expect((await me(app, second.cookie)).statusCode).toBe(200);
    // Also when the presented session belongs to someone else.
    const admin = await login(app, DEMO_ADMIN.email, DEMO_ADMIN.password, { cookie: second.cookie });
    expect((await me(app, second.cookie)).statusCode).toBe(401);
    expect((await me(app, admin.cookie)).json().user.role).toBe('admin');
  });

  it('answers 401 unauthenticated without a session', async () => {
    const res = await app.inject({ method: 'GET', url: '/auth/me' });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: 'unauthenticated', message: expect.any(String) });
    const bogus = await me(app, 'sid=nonsense');
    expect(bogus.statusCode).toBe(401);
  });

  it('logout deletes the session server-side and clears the cookie', async () => {
    const s = await login(app);
    const res = await app.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrfToken },
    });
    expect(res.statusCode).toBe(204);
    const cleared = sessionCookie(res) ?? '';
    expect(cleared).toMatch(/^sid=;/);
    expect(cleared).toMatch(/Max-Age=0|Expires=Thu, 01 Jan 1970/);
    // The old cookie no longer works even if a browser kept it.
    expect((await me(app, s.cookie)).statusCode).toBe(401);
    const again = await app.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrfToken },
    });
    expect(again.statusCode).toBe(401);
  });

  it('lists sessions with public ids, marks the current one, and revokes one by id', async () => {
    const a = await login(app, DEMO_ADMIN.email, DEMO_ADMIN.password, { 'user-agent': 'device-a' });
    const b = await login(app, DEMO_ADMIN.email, DEMO_ADMIN.password, { 'user-agent': 'device-b' });
    const list = await app.inject({ method: 'GET', url: '/auth/sessions', headers: { cookie: a.cookie } });
    expect(list.statusCode).toBe(200);
    const sessions = list.json().sessions as Array<Record<string, unknown>>;
    const mine = sessions.find((s) => s.current === true);
    const other = sessions.find((s) => s.userAgent === 'device-b');
    expect(mine?.userAgent).toBe('device-a');
    expect(other).toMatchObject({ current: false, ip: '127.0.0.1', id: expect.stringMatching(/^ses_/) });
    expect(Object.keys(other ?? {}).sort()).toEqual(
      ['createdAt', 'current', 'expiresAt', 'id', 'ip', 'lastSeenAt', 'userAgent'].sort(),
    );
    const del = await app.inject({
      method: 'DELETE',
      url: `/auth/sessions/${other?.id}`,
      headers: { cookie: a.cookie, 'x-csrf-token': a.csrfToken },
    });
    expect(del.statusCode).toBe(204);
    expect((await me(app, b.cookie)).statusCode).toBe(401);
    expect((await me(app, a.cookie)).statusCode).toBe(200);
  });

  it("cannot revoke someone else's session: 404 not_found, and it stays alive", async () => {
    const listener = await login(app);
    const admin = await login(app, DEMO_ADMIN.email, DEMO_ADMIN.password);
    const adminSessionId = (await me(app, admin.cookie)).json().session.id;
    const res = await app.inject({
      method: 'DELETE',
      url: `/auth/sessions/${adminSessionId}`,
      headers: { cookie: listener.cookie, 'x-csrf-token': listener.csrfToken },
    });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toBe('not_found');
    expect((await me(app, admin.cookie)).statusCode).toBe(200);
    expect(await app.sessionStore.isAlive(adminSessionId)).toBe(true);
  });

  it('logout-all deletes every session of the user, and only theirs', async () => {
    const s1 = await login(app);
    const s2 = await login(app);
    const admin = await login(app, DEMO_ADMIN.email, DEMO_ADMIN.password);
    const res = await app.inject({
      method: 'POST',
      url: '/auth/logout-all',
      headers: { cookie: s1.cookie, 'x-csrf-token': s1.csrfToken },
    });
    expect(res.statusCode).toBe(204);
    expect((await me(app, s1.cookie)).statusCode).toBe(401);
    expect((await me(app, s2.cookie)).statusCode).toBe(401);
    expect((await me(app, admin.cookie)).statusCode).toBe(200);
    expect(await app.sessionStore.listForUser(DEMO_LISTENER.id)).toEqual([]);
  });

  it("admin deletes a user's sessions; a non-admin gets 403 forbidden", async () => {
    const listener = await login(app);
    const admin = await login(app, DEMO_ADMIN.email, DEMO_ADMIN.password);
    const denied = await app.inject({
      method: 'DELETE',
      url: `/admin/users/${DEMO_ADMIN.id}/sessions`,
      headers: { cookie: listener.cookie, 'x-csrf-token': listener.csrfToken },
    });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().error).toBe('forbidden');
    expect((await me(app, admin.cookie)).statusCode).toBe(200);
    const ok = await app.inject({
      method: 'DELETE',
      url: `/admin/users/${DEMO_LISTENER.id}/sessions`,
      headers: { cookie: admin.cookie, 'x-csrf-token': admin.csrfToken },
    });
    expect(ok.statusCode).toBe(204);
    expect((await me(app, listener.cookie)).statusCode).toBe(401);
  });

  it("profile: one's own is 200, anyone else's 403", async () => {
    const listener = await login(app);
    const own = await app.inject({
      method: 'GET',
      url: `/profile/${DEMO_LISTENER.id}`,
      headers: { cookie: listener.cookie },
    });
    expect(own.json()).toEqual({
      id: DEMO_LISTENER.id,
      name: DEMO_LISTENER.name,
      email: DEMO_LISTENER.email,
    });
    const other = await app.inject({
      method: 'GET',
      url: `/profile/${DEMO_ADMIN.id}`,
      headers: { cookie: listener.cookie },
    });
    expect(other.statusCode).toBe(403);
    expect(other.json().error).toBe('forbidden');
    const anon = await app.inject({ method: 'GET', url: `/profile/${DEMO_ADMIN.id}` });
    expect(anon.statusCode).toBe(401);
  });

  it('emails are case-insensitive; wrong password and unknown email give the same 401 body', async () => {
    await login(app, '  Listener@Example.COM ', DEMO_LISTENER.password);
    const wrong = await app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: DEMO_LISTENER.email, password: 'wrong-password' },
    });
    const unknown = await app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: 'nobody@example.com', password: 'wrong-password' },
    });
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(wrong.body).toBe(unknown.body);
    expect(wrong.json().error).toBe('invalid_credentials');
    expect(sessionCookie(wrong)).toBeUndefined();
  });

  it('criterion 6: SESSION_SECRETS=new,old re-signs old cookies; unknown secrets are rejected', async () => {
    const oldApp = await buildTestApp(testConfig(kind, { SESSION_SECRETS: `${SECRET_A}` }, prefix));
    // Memory stores are per process, so the rotation is shown within one store: build both apps on it.
    const target = kind === 'memory' ? oldApp : app;
    const signedIn = await login(target);
    const rotated = await buildTestApp(
      testConfig(kind, { SESSION_SECRETS: `${SECRET_B},${SECRET_A}` }, prefix),
    );
    const stranger = await buildTestApp(testConfig(kind, { SESSION_SECRETS: SECRET_C }, prefix));
    try {
      if (kind === 'redis') {
        const res = await me(rotated, signedIn.cookie);
        expect(res.statusCode).toBe(200);
        const renewed = sessionCookie(res) ?? '';
        expect(renewed).toMatch(/^sid=/);
        const renewedPair = renewed.split(';')[0] ?? '';
        expect(renewedPair).not.toBe(signedIn.cookie);
        // Same session (same secret), now signed with the new secret: works with new-only secrets too.
        const newOnly = await buildTestApp(testConfig(kind, { SESSION_SECRETS: SECRET_B }, prefix));
        try {
          expect((await me(newOnly, renewedPair)).json().session.id).toBe(res.json().session.id);
          expect((await me(newOnly, signedIn.cookie)).statusCode).toBe(401);
        } finally {
          await newOnly.close();
        }
        // A cookie already signed with the newest secret is not re-set on every response.
        expect(sessionCookie(await me(rotated, renewedPair))).toBeUndefined();
        expect((await me(stranger, signedIn.cookie)).statusCode).toBe(401);
      } else {
        expect((await me(oldApp, signedIn.cookie)).statusCode).toBe(200);
      }
    } finally {
      await Promise.all([oldApp.close(), rotated.close(), stranger.close()]);
    }
  });
});
