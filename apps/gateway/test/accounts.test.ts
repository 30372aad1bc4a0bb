/**
 * Account actions (CONTRACT.md, Accounts): `POST /auth/password`, `GET /admin/users`,
 * `POST /admin/users/:userId/disable` and `.../enable`, against the real Redis and process memory.
 */
import { randomBytes } from 'node:crypto';
import { parseOptions } from '@node-rs/argon2';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSessionSecret } from '../src/plugins/sessions.js';
import { userKey } from '../src/stores/redis-user-store.js';
import {
  buildTestApp,
  DEMO_ADMIN,
  DEMO_LISTENER,
  login,
  me,
  randomPrefix,
  type SignedIn,
  STORE_KINDS,
  sessionCookie,
  testConfig,
  testRedis,
} from './support/gateway.js';

const FIRST_PASSWORD = 'first-password-1';
const NEW_PASSWORD = 'a-new-password-2';
const ACCOUNT_LIMIT = 3;

describe.each(STORE_KINDS)('account actions (%s store)', (kind) => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildTestApp(
      testConfig(kind, {
        LOGIN_MAX_FAILURES_PER_ACCOUNT: String(ACCOUNT_LIMIT),
        LOGIN_FAILURE_WINDOW_SECONDS: '120',
      }),
    );
  });
  afterAll(async () => app.close());

  /** A fresh user per test, so that password changes and disabling do not reach other tests. */
  async function newUser(role: 'user' | 'admin' = 'user') {
    const email = `acct-${randomBytes(4).toString('hex')}@example.com`;
    const user = await app.users.create({ email, name: 'Account Test', role, password: FIRST_PASSWORD });
    return { ...user, password: FIRST_PASSWORD };
  }

  function changePassword(
    s: SignedIn | null,
    payload: unknown,
    headers: Record<string, string> = s ? { cookie: s.cookie, 'x-csrf-token': s.csrfToken } : {},
  ): Promise<LightMyRequestResponse> {
    return app.inject({ method: 'POST', url: '/auth/password', payload: payload as object, headers });
  }

  const signIn = (email: string, password: string, ip = '127.0.0.1') =>
    app.inject({ method: 'POST', url: '/auth/login', payload: { email, password }, remoteAddress: ip });

  const admin = (method: 'GET' | 'POST', url: string, s: SignedIn, csrf = true) =>
    app.inject({
      method,
      url,
      headers: { cookie: s.cookie, ...(csrf ? { 'x-csrf-token': s.csrfToken } : {}) },
    });

  describe('POST /auth/password', () => {
    it('204: this session gets a new id, cookie and CSRF token; the old cookie is dead', async () => {
      const user = await newUser();
      const s = await login(app, user.email, user.password);
      const before = (await me(app, s.cookie)).json();
      const res = await changePassword(s, { currentPassword: user.password, newPassword: NEW_PASSWORD });
      expect(res.statusCode).toBe(204);
      expect(res.body).toBe('');
      const setCookie = sessionCookie(res) ?? '';
      expect(setCookie).toMatch(/^sid=[^;]+; Path=\/; HttpOnly; SameSite=Lax$/);
      const cookie = setCookie.split(';')[0] ?? '';
      expect(cookie).not.toBe(s.cookie);
      expect((await me(app, s.cookie)).statusCode).toBe(401);
      expect(await app.sessionStore.isAlive(before.session.id)).toBe(false);
      const after = await me(app, cookie);
      expect(after.statusCode).toBe(200);
      expect(after.json().user.id).toBe(user.id);
      expect(after.json().session.id).toMatch(/^ses_/);
      expect(after.json().session.id).not.toBe(before.session.id);
      expect(after.json().csrfToken).not.toBe(s.csrfToken);
      // The new session works for unsafe requests with its own CSRF token, not the old one.
      const sessions = await app.inject({ method: 'GET', url: '/auth/sessions', headers: { cookie } });
      expect(sessions.json().sessions.map((x: { id: string }) => x.id)).toEqual([after.json().session.id]);
      const stale = await app.inject({
        method: 'POST',
        url: '/auth/logout',
        headers: { cookie, 'x-csrf-token': s.csrfToken },
      });
      expect(stale.statusCode).toBe(403);
    });

    it('revokes (for media) the old id of this session and every other session, never the new id', async () => {
      const user = await newUser();
      const s = await login(app, user.email, user.password);
      const other = await login(app, user.email, user.password);
      const oldId = (await me(app, s.cookie)).json().session.id as string;
      const otherId = (await me(app, other.cookie)).json().session.id as string;
      const res = await changePassword(s, { currentPassword: user.password, newPassword: NEW_PASSWORD });
      expect(res.statusCode).toBe(204);
      const newId = (await me(app, (sessionCookie(res) ?? '').split(';')[0] ?? '')).json().session.id;
      const revoked = new Set((await app.stores.revocations.snapshot()).map((e) => e.sid));
      expect(revoked.has(oldId)).toBe(true);
      expect(revoked.has(otherId)).toBe(true);
      expect(revoked.has(newId)).toBe(false);
    });

    it("ends every other session of the user, and nobody else's", async () => {
      const user = await newUser();
      const here = await login(app, user.email, user.password, { 'user-agent': 'here' });
      const other1 = await login(app, user.email, user.password, { 'user-agent': 'laptop' });
      const other2 = await login(app, user.email, user.password, { 'user-agent': 'phone' });
      const bystander = await login(app, DEMO_LISTENER.email, DEMO_LISTENER.password);
      const res = await changePassword(
        here,
        { currentPassword: user.password, newPassword: NEW_PASSWORD },
        { cookie: here.cookie, 'x-csrf-token': here.csrfToken, 'user-agent': 'here' },
      );
      expect(res.statusCode).toBe(204);
      // Ended in the store (which is what reaches media), before any request could find them stale.
      const left = await app.sessionStore.listForUser(user.id);
      expect(left.map((r) => r.userAgent)).toEqual(['here']);
      expect((await me(app, other1.cookie)).statusCode).toBe(401);
      expect((await me(app, other2.cookie)).statusCode).toBe(401);
      expect((await me(app, bystander.cookie)).statusCode).toBe(200);
    });

    it('the new password signs in, the old one no longer does; the hash uses the current Argon2id parameters', async () => {
      const user = await newUser();
      const s = await login(app, user.email, user.password);
      expect(
        (await changePassword(s, { currentPassword: user.password, newPassword: NEW_PASSWORD })).statusCode,
      ).toBe(204);
      const old = await signIn(user.email, user.password, '10.9.0.1');
      expect(old.statusCode).toBe(401);
      expect(old.json()).toEqual({ error: 'invalid_credentials', message: 'wrong email or password' });
      expect((await signIn(user.email, NEW_PASSWORD, '10.9.0.2')).statusCode).toBe(200);
      const stored = await app.stores.users.findById(user.id);
      const hash = stored?.passwordHash ?? '';
      expect(hash.startsWith('$argon2id$')).toBe(true);
      expect(parseOptions(hash)).toMatchObject({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });
      expect(app.users.needsRehash(hash)).toBe(false);
    });

    it('a wrong current password: 401 invalid_credentials; nothing changes', async () => {
      const user = await newUser();
      const s = await login(app, user.email, user.password);
      const other = await login(app, user.email, user.password);
      const res = await changePassword(s, { currentPassword: 'not-my-password', newPassword: NEW_PASSWORD });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toEqual({ error: 'invalid_credentials', message: 'wrong email or password' });
      expect(sessionCookie(res)).toBeUndefined();
      expect((await me(app, s.cookie)).statusCode).toBe(200);
      expect((await me(app, other.cookie)).statusCode).toBe(200);
      expect((await signIn(user.email, user.password)).statusCode).toBe(200);
      expect((await signIn(user.email, NEW_PASSWORD, '10.9.1.1')).statusCode).toBe(401);
    });

    it('needs the CSRF token (403 csrf_failed) and a session (401 unauthenticated)', async () => {
      const user = await newUser();
      const s = await login(app, user.email, user.password);
      const body = { currentPassword: user.password, newPassword: NEW_PASSWORD };
      const noToken = await changePassword(s, body, { cookie: s.cookie });
      expect(noToken.statusCode).toBe(403);
      expect(noToken.json().error).toBe('csrf_failed');
      const wrongToken = await changePassword(s, body, { cookie: s.cookie, 'x-csrf-token': 'x'.repeat(43) });
      expect(wrongToken.statusCode).toBe(403);
      const foreignOrigin = await changePassword(s, body, {
        cookie: s.cookie,
        'x-csrf-token': s.csrfToken,
        origin: 'https://evil.example',
      });
      expect(foreignOrigin.statusCode).toBe(403);
      const anonymous = await changePassword(null, body);
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.json().error).toBe('unauthenticated');
      // None of them changed anything.
      expect((await me(app, s.cookie)).statusCode).toBe(200);
      expect((await signIn(user.email, user.password)).statusCode).toBe(200);
    });

    it.each([
      ['11 characters', 'x'.repeat(11), 400],
      ['129 characters', 'x'.repeat(129), 400],
      ['a number', 123456789012345, 400],
      ['12 characters', 'y'.repeat(12), 204],
      ['128 characters', 'z'.repeat(128), 204],
      ['12 characters outside the BMP (24 UTF-16 units)', '🔑'.repeat(12), 204],
    ])('a new password of %s → %s', async (_name, newPassword, status) => {
      const user = await newUser();
      const s = await login(app, user.email, user.password);
      const res = await changePassword(s, { currentPassword: user.password, newPassword });
      expect(res.statusCode).toBe(status);
      if (status === 400) {
        expect(res.json()).toEqual({
          error: 'invalid_request',
          message: expect.stringMatching(/newPassword/),
        });
        expect((await me(app, s.cookie)).statusCode).toBe(200);
      } else {
        expect((await signIn(user.email, String(newPassword), '10.9.2.1')).statusCode).toBe(200);
      }
    });

    it('429 once the account has used its failures, shared with sign-in, even with the right password', async () => {
      const user = await newUser();
      const s = await login(app, user.email, user.password);
      for (let i = 0; i < ACCOUNT_LIMIT; i++) {
        const res = await changePassword(s, { currentPassword: `guess-${i}`, newPassword: NEW_PASSWORD });
        expect(res.statusCode).toBe(401);
      }
      const blocked = await changePassword(s, { currentPassword: user.password, newPassword: NEW_PASSWORD });
      expect(blocked.statusCode).toBe(429);
      expect(blocked.json()).toEqual({ error: 'too_many_attempts', message: expect.any(String) });
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(100);
      expect(Number(blocked.headers['retry-after'])).toBeLessThanOrEqual(120);
      // The same budget as sign-in: the account is blocked there too, from another IP.
      expect((await signIn(user.email, user.password, '10.9.3.1')).statusCode).toBe(429);
      // And sign-in failures count against the password change.
      const other = await newUser();
      const t = await login(app, other.email, other.password);
      for (let i = 0; i < ACCOUNT_LIMIT; i++)
        expect((await signIn(other.email, `guess-${i}`, `10.9.4.${i}`)).statusCode).toBe(401);
      const res = await changePassword(t, { currentPassword: other.password, newPassword: NEW_PASSWORD });
      expect(res.statusCode).toBe(429);
    });

    it('12 concurrent guesses compute the limit of hashes (3), no more; the rest are 429', async () => {
      const user = await newUser();
      const s = await login(app, user.email, user.password);
      const hashesBefore = app.users.passwordVerifications;
      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          changePassword(s, { currentPassword: `parallel-guess-${i}`, newPassword: NEW_PASSWORD }),
        ),
      );
      const statuses = answers.map((r) => r.statusCode).sort();
      expect(statuses.filter((c) => c === 401)).toHaveLength(ACCOUNT_LIMIT);
      expect(statuses.filter((c) => c === 429)).toHaveLength(12 - ACCOUNT_LIMIT);
      expect(app.users.passwordVerifications - hashesBefore).toBe(ACCOUNT_LIMIT);
      // The right password is refused too now, and the session is untouched.
      const right = await changePassword(s, { currentPassword: user.password, newPassword: NEW_PASSWORD });
      expect(right.statusCode).toBe(429);
      expect((await me(app, s.cookie)).statusCode).toBe(200);
    });

    it('a session issued under the old password after the change ended every session is still refused', async () => {
      // What a sign-in racing with the change leaves: it verified the old password (and read the old
      // session version) before the change, and wrote its session after the change ended them all.
      const user = await newUser();
      const s = await login(app, user.email, user.password);
      const oldVersion = (await app.stores.users.findById(user.id))?.sessionVersion ?? -1;
      expect(
        (await changePassword(s, { currentPassword: user.password, newPassword: NEW_PASSWORD })).statusCode,
      ).toBe(204);
      const late = await plantSession(app, user.id, oldVersion);
      expect((await me(app, late)).statusCode).toBe(401);
      // Positive control: the same planted session with the current version works.
      const current = (await app.stores.users.findById(user.id))?.sessionVersion ?? -1;
      expect(current).toBe(oldVersion + 1);
      expect((await me(app, await plantSession(app, user.id, current))).statusCode).toBe(200);
    });
  });

  describe('GET /admin/users', () => {
    it('lists every user with id, email, name, role and disabled, and no hash', async () => {
      const a = await login(app, DEMO_ADMIN.email, DEMO_ADMIN.password);
      const res = await admin('GET', '/admin/users', a);
      expect(res.statusCode).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      const users = res.json().users as Array<Record<string, unknown>>;
      expect(users).toContainEqual({
        id: DEMO_LISTENER.id,
        email: DEMO_LISTENER.email,
        name: DEMO_LISTENER.name,
        role: 'user',
        disabled: false,
      });
      expect(users).toContainEqual({
        id: DEMO_ADMIN.id,
        email: DEMO_ADMIN.email,
        name: DEMO_ADMIN.name,
        role: 'admin',
        disabled: false,
      });
      for (const u of users)
        expect(Object.keys(u).sort()).toEqual(['disabled', 'email', 'id', 'name', 'role']);
      expect(res.body).not.toMatch(/argon2|passwordHash|sessionVersion/);
    });

    it('403 forbidden for a non-admin, 401 without a session', async () => {
      const l = await login(app);
      const res = await admin('GET', '/admin/users', l);
      expect(res.statusCode).toBe(403);
      expect(res.json().error).toBe('forbidden');
      expect((await app.inject({ method: 'GET', url: '/admin/users' })).statusCode).toBe(401);
    });
  });

  describe('POST /admin/users/:userId/disable and /enable', () => {
    it("disabling ends the user's sessions and refuses their sign-in with the wrong-password body; enabling restores sign-in", async () => {
      const user = await newUser();
      const s1 = await login(app, user.email, user.password);
      const s2 = await login(app, user.email, user.password);
      const a = await login(app, DEMO_ADMIN.email, DEMO_ADMIN.password);
      const wrong = await signIn(user.email, 'not-the-password', '10.8.0.1');
      const res = await admin('POST', `/admin/users/${user.id}/disable`, a);
      expect(res.statusCode).toBe(204);
      expect((await me(app, s1.cookie)).statusCode).toBe(401);
      expect((await me(app, s2.cookie)).statusCode).toBe(401);
      expect(await app.sessionStore.listForUser(user.id)).toEqual([]);
      expect((await me(app, a.cookie)).statusCode).toBe(200);
      const refused = await signIn(user.email, user.password, '10.8.0.2');
      expect(refused.statusCode).toBe(401);
      expect(refused.body).toBe(wrong.body);
      expect(sessionCookie(refused)).toBeUndefined();
      const listed = (await admin('GET', '/admin/users', a)).json().users;
      expect(listed.find((u: { id: string }) => u.id === user.id)?.disabled).toBe(true);
      // Disabling again is harmless.
      expect((await admin('POST', `/admin/users/${user.id}/disable`, a)).statusCode).toBe(204);

      expect((await admin('POST', `/admin/users/${user.id}/enable`, a)).statusCode).toBe(204);
      expect((await signIn(user.email, user.password, '10.8.0.3')).statusCode).toBe(200);
      // The sessions disabling ended stay ended.
      expect((await me(app, s1.cookie)).statusCode).toBe(401);
      const relisted = (await admin('GET', '/admin/users', a)).json().users;
      expect(relisted.find((u: { id: string }) => u.id === user.id)?.disabled).toBe(false);
    });

    it("a disabled user's session that survived (created as the disabling ran) does not work", async () => {
      const user = await newUser();
      const a = await login(app, DEMO_ADMIN.email, DEMO_ADMIN.password);
      const before = (await app.stores.users.findById(user.id))?.sessionVersion ?? -1;
      expect((await admin('POST', `/admin/users/${user.id}/disable`, a)).statusCode).toBe(204);
      const after = (await app.stores.users.findById(user.id))?.sessionVersion ?? -1;
      expect(after).toBe(before + 1);
      // Issued under the version before: refused, and still after re-enabling.
      const racing = await plantSession(app, user.id, before);
      expect((await me(app, racing)).statusCode).toBe(401);
      // Even one carrying the current version is refused while the user is disabled.
      const current = await plantSession(app, user.id, after);
      expect((await me(app, current)).statusCode).toBe(401);
      expect((await admin('POST', `/admin/users/${user.id}/enable`, a)).statusCode).toBe(204);
      expect((await me(app, await plantSession(app, user.id, before))).statusCode).toBe(401);
      // Positive control: a session with the current version works once the user is enabled.
      expect((await me(app, await plantSession(app, user.id, after))).statusCode).toBe(200);
    });

    it('403 for a non-admin (nothing changes), 403 without the CSRF token, 404 for an unknown user', async () => {
      const user = await newUser();
      const victim = await login(app, user.email, user.password);
      const l = await login(app);
      for (const action of ['disable', 'enable']) {
        const denied = await admin('POST', `/admin/users/${user.id}/${action}`, l);
        expect(denied.statusCode).toBe(403);
        expect(denied.json().error).toBe('forbidden');
      }
      expect((await me(app, victim.cookie)).statusCode).toBe(200);
      const a = await login(app, DEMO_ADMIN.email, DEMO_ADMIN.password);
      const noCsrf = await admin('POST', `/admin/users/${user.id}/disable`, a, false);
      expect(noCsrf.statusCode).toBe(403);
      expect(noCsrf.json().error).toBe('csrf_failed');
      expect((await me(app, victim.cookie)).statusCode).toBe(200);
      for (const action of ['disable', 'enable']) {
        const missing = await admin('POST', `/admin/users/usr_nobody/${action}`, a);
        expect(missing.statusCode).toBe(404);
        expect(missing.json()).toEqual({ error: 'not_found', message: expect.any(String) });
      }
      expect((await app.inject({ method: 'POST', url: `/admin/users/${user.id}/disable` })).statusCode).toBe(
        401,
      );
      const accounts = await app.users.list();
      expect(accounts.find((u) => u.id === user.id)?.disabled).toBe(false);
    });
  });
});

describe.each(STORE_KINDS)('user store updates (%s store)', (kind) => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildTestApp(testConfig(kind));
  });
  afterAll(async () => app.close());

  it('a rehash on sign-in never overwrites a password changed meanwhile (compare-and-set on the hash)', async () => {
    const user = await app.users.create({
      email: `cas-${randomBytes(4).toString('hex')}@example.com`,
      name: 'C',
      role: 'user',
      password: FIRST_PASSWORD,
    });
    const before = await app.stores.users.findById(user.id);
    const changed = await app.stores.users.update(user.id, { passwordHash: 'changed' });
    expect(changed?.passwordHash).toBe('changed');
    // A rehash computed from the hash read before the change: refused, nothing written.
    const stale = await app.stores.users.update(
      user.id,
      { passwordHash: 'rehash-of-old' },
      { ifPasswordHash: before?.passwordHash ?? '' },
    );
    expect(stale).toBeNull();
    expect((await app.stores.users.findById(user.id))?.passwordHash).toBe('changed');
    // Positive control: against the current hash it applies.
    expect(
      (await app.stores.users.update(user.id, { passwordHash: 'next' }, { ifPasswordHash: 'changed' }))
        ?.passwordHash,
    ).toBe('next');
    expect(await app.stores.users.update('usr_missing', { disabled: true })).toBeNull();
  });
});

describe('records written before disabled/sessionVersion existed (Redis)', () => {
  const prefix = randomPrefix();
  let app: FastifyInstance;
  let redis: Redis;
  beforeAll(async () => {
    redis = testRedis();
    app = await buildTestApp(testConfig('redis', {}, prefix));
  });
  afterAll(async () => {
    await app.close();
    redis.disconnect();
  });

  it('an old user record reads as enabled with version 0, and its old sessions keep working', async () => {
    const user = await app.users.create({
      email: `legacy-${randomBytes(4).toString('hex')}@example.com`,
      name: 'L',
      role: 'user',
      password: FIRST_PASSWORD,
    });
    const key = userKey(prefix, user.id);
    const { disabled: _d, sessionVersion: _v, ...legacy } = JSON.parse((await redis.get(key)) ?? '{}');
    await redis.set(key, JSON.stringify(legacy));
    const oldSession = await plantSession(app, user.id, undefined);
    expect((await me(app, oldSession)).statusCode).toBe(200);
    expect(await app.stores.users.findById(user.id)).toMatchObject({ disabled: false, sessionVersion: 0 });
    expect((await login(app, user.email, FIRST_PASSWORD)).response.statusCode).toBe(200);
    expect(await app.users.setDisabled(user.id, true)).toBe(true);
    expect(JSON.parse((await redis.get(key)) ?? '{}')).toMatchObject({ disabled: true, sessionVersion: 1 });
    expect((await me(app, oldSession)).statusCode).toBe(401);
  });
});

/**
 * Writes a session straight into the store for `userId` with the given session version, and returns a
 * cookie for it: what a sign-in that read that version would have created.
 */
async function plantSession(
  app: FastifyInstance,
  userId: string,
  sessionVersion: number | undefined,
): Promise<string> {
  const secret = randomBytes(32).toString('base64url');
  const now = Date.now();
  await app.sessionStore.create(hashSessionSecret(secret), {
    id: `ses_${randomBytes(16).toString('base64url')}`,
    userId,
    csrfToken: randomBytes(32).toString('base64url'),
    createdAt: now,
    lastSeenAt: now,
    absoluteExpiresAt: now + 3_600_000,
    userAgent: 'planted',
    ip: '127.0.0.1',
    ...(sessionVersion === undefined ? {} : { sessionVersion }),
  });
  return `sid=${encodeURIComponent(app.signCookie(secret))}`;
}
