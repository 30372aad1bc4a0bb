/**
 * The audit log (CONTRACT.md, Audit log): each account event writes exactly one JSON line with
 * `"audit": true`, its `event`, actor and target user ids, the public session handle, IP and user agent,
 * through the app's own logger settings, even at LOG_LEVEL=warn; and no secret is in the log.
 */
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, loggerOptions } from '../src/app.js';
import { DEMO_ADMIN, login, me, type SignedIn, STORE_KINDS, testConfig } from './support/gateway.js';

const UA = 'audit-test-agent/1.0';
const IP = '10.77.0.9';
/** Pino's own fields and the request id it binds: everything else on an audit line is asserted exactly. */
const PINO_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'reqId', 'msg']);

describe.each(STORE_KINDS)('audit log (%s store)', (kind) => {
  const lines: string[] = [];
  let app: FastifyInstance;
  beforeAll(async () => {
    // `warn`: request lines are not written, audit lines still are.
    const config = testConfig(kind, { LOG_LEVEL: 'warn' });
    const stream = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(String(chunk));
        callback();
      },
    });
    app = await buildApp(config, { logger: { ...(loggerOptions(config) as object), stream } });
    await app.ready();
  });
  afterAll(async () => app.close());

  /** The audit lines written since the previous call, without pino's own fields. */
  let seen = 0;
  function newAuditLines(): Array<Record<string, unknown>> {
    const fresh = lines.slice(seen);
    seen = lines.length;
    return fresh
      .flatMap((line) => line.split('\n').filter(Boolean))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry.audit === true)
      .map((entry) => Object.fromEntries(Object.entries(entry).filter(([k]) => !PINO_FIELDS.has(k))));
  }

  const headers = { 'user-agent': UA };
  const as = (s: SignedIn) => ({ ...headers, cookie: s.cookie, 'x-csrf-token': s.csrfToken });
  const post = (url: string, s: SignedIn, payload?: object) =>
    app.inject({ method: 'POST', url, headers: as(s), payload, remoteAddress: IP });
  const sessionIdOf = async (s: SignedIn) => (await me(app, s.cookie)).json().session.id as string;
  const base = { audit: true, ip: IP, userAgent: UA };

  it('each event writes one line with exactly its fields, and no secret is logged', async () => {
    const email = `audit-${Date.now()}@example.com`;
    const password = 'audit-password-1';
    const newPassword = 'audit-password-2-new';
    const user = await app.users.create({ email, name: 'Audited', role: 'user', password });
    const signIn = (pw: string) =>
      app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email, password: pw },
        headers,
        remoteAddress: IP,
      });
    newAuditLines();

    // Sign-in failure (wrong password, unknown email) and success.
    expect((await signIn('a-wrong-password')).statusCode).toBe(401);
    expect(newAuditLines()).toEqual([
      {
        ...base,
        event: 'sign_in_failed',
        actorId: null,
        targetId: user.id,
        sessionId: null,
        reason: 'wrong_password',
      },
    ]);
    const unknown = await app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: 'nobody@example.com', password: 'whatever-pass' },
      headers,
      remoteAddress: IP,
    });
    expect(unknown.statusCode).toBe(401);
    expect(newAuditLines()).toEqual([
      {
        ...base,
        event: 'sign_in_failed',
        actorId: null,
        targetId: null,
        sessionId: null,
        reason: 'unknown_user',
      },
    ]);
    const s1 = await login(app, email, password, headers);
    const s1Id = await sessionIdOf(s1);
    const s2 = await login(app, email, password, headers);
    const s2Id = await sessionIdOf(s2);
    const s3 = await login(app, email, password, headers);
    const s3Id = await sessionIdOf(s3);
    // login() does not set remoteAddress: light-my-request's is 127.0.0.1.
    expect(newAuditLines()).toEqual(
      [s1Id, s2Id, s3Id].map((sessionId) => ({
        ...base,
        ip: '127.0.0.1',
        event: 'sign_in',
        actorId: user.id,
        targetId: user.id,
        sessionId,
      })),
    );

    // A device revoked.
    expect(
      (
        await app.inject({
          method: 'DELETE',
          url: `/auth/sessions/${s2Id}`,
          headers: as(s1),
          remoteAddress: IP,
        })
      ).statusCode,
    ).toBe(204);
    expect(newAuditLines()).toEqual([
      {
        ...base,
        event: 'session_revoked',
        actorId: user.id,
        targetId: user.id,
        sessionId: s1Id,
        targetSessionId: s2Id,
      },
    ]);

    // A failed and a successful password change.
    expect(
      (await post('/auth/password', s1, { currentPassword: 'wrong-current', newPassword })).statusCode,
    ).toBe(401);
    expect(newAuditLines()).toEqual([
      {
        ...base,
        event: 'password_change_failed',
        actorId: user.id,
        targetId: user.id,
        sessionId: s1Id,
        reason: 'wrong_password',
      },
    ]);
    const changed = await post('/auth/password', s1, { currentPassword: password, newPassword });
    expect(changed.statusCode).toBe(204);
    const rotatedCookie = String(changed.headers['set-cookie']).split(';')[0] ?? '';
    const rotated = (await me(app, rotatedCookie)).json();
    expect(newAuditLines()).toEqual([
      {
        ...base,
        event: 'password_changed',
        actorId: user.id,
        targetId: user.id,
        sessionId: s1Id,
        newSessionId: rotated.session.id,
        sessionsEnded: 2,
      },
    ]);
    const s4: SignedIn = { ...s1, cookie: rotatedCookie, csrfToken: rotated.csrfToken };
    const s4Id = rotated.session.id as string;
    expect((await me(app, s3.cookie)).statusCode).toBe(401);

    // Sign out everywhere, then sign out.
    const s5 = await login(app, email, newPassword, headers);
    const s5Id = await sessionIdOf(s5);
    newAuditLines();
    expect((await post('/auth/logout-all', s4)).statusCode).toBe(204);
    expect(newAuditLines()).toEqual([
      {
        ...base,
        event: 'sign_out_everywhere',
        actorId: user.id,
        targetId: user.id,
        sessionId: s4Id,
        sessionsEnded: 2,
      },
    ]);
    expect(s5Id).not.toBe(s4Id);
    const s6 = await login(app, email, newPassword, headers);
    const s6Id = await sessionIdOf(s6);
    newAuditLines();
    expect((await post('/auth/logout', s6)).statusCode).toBe(204);
    expect(newAuditLines()).toEqual([
      { ...base, event: 'sign_out', actorId: user.id, targetId: user.id, sessionId: s6Id },
    ]);

    // An administrator revokes, disables and enables the user.
    const admin = await login(app, DEMO_ADMIN.email, DEMO_ADMIN.password, headers);
    const adminId = await sessionIdOf(admin);
    const s7 = await login(app, email, newPassword, headers);
    newAuditLines();
    const adminActs = { ...base, actorId: DEMO_ADMIN.id, targetId: user.id, sessionId: adminId };
    expect(
      (
        await app.inject({
          method: 'DELETE',
          url: `/admin/users/${user.id}/sessions`,
          headers: as(admin),
          remoteAddress: IP,
        })
      ).statusCode,
    ).toBe(204);
    expect(newAuditLines()).toEqual([{ ...adminActs, event: 'user_sessions_revoked', sessionsEnded: 1 }]);
    expect((await me(app, s7.cookie)).statusCode).toBe(401);
    await login(app, email, newPassword, headers);
    newAuditLines();
    expect((await post(`/admin/users/${user.id}/disable`, admin)).statusCode).toBe(204);
    expect(newAuditLines()).toEqual([{ ...adminActs, event: 'user_disabled', sessionsEnded: 1 }]);
    expect((await signIn(newPassword)).statusCode).toBe(401);
    expect(newAuditLines()).toEqual([
      {
        ...base,
        event: 'sign_in_failed',
        actorId: null,
        targetId: user.id,
        sessionId: null,
        reason: 'disabled',
      },
    ]);
    expect((await post(`/admin/users/${user.id}/enable`, admin)).statusCode).toBe(204);
    expect(newAuditLines()).toEqual([{ ...adminActs, event: 'user_enabled' }]);

    // A request that is not an account event writes no audit line.
    await me(app, admin.cookie);
    expect(newAuditLines()).toEqual([]);

    // No secret anywhere in the log: passwords, cookies (secret and signed), CSRF tokens, hashes.
    const log = lines.join('');
    const stored = await app.stores.users.findById(user.id);
    const secrets = [password, newPassword, 'a-wrong-password', 'wrong-current', 'whatever-pass'];
    for (const s of [s1, s2, s3, s4, s5, s6, s7, admin]) {
      secrets.push(s.value, s.value.slice(0, s.value.lastIndexOf('.')), s.csrfToken, s.cookie);
    }
    secrets.push(rotatedCookie, stored?.passwordHash ?? 'missing-hash', DEMO_ADMIN.password);
    for (const secret of secrets) expect(log).not.toContain(secret);
  });

  it('a rate-limited sign-in is audited as a failure', async () => {
    const limited = await buildApp(
      testConfig(kind, { LOG_LEVEL: 'info', LOGIN_MAX_FAILURES_PER_ACCOUNT: '1' }),
      {
        logger: {
          ...(loggerOptions({ logLevel: 'info' }) as object),
          stream: new Writable({
            write(chunk, _encoding, callback) {
              lines.push(String(chunk));
              callback();
            },
          }),
        },
      },
    );
    try {
      newAuditLines();
      const attempt = () =>
        limited.inject({
          method: 'POST',
          url: '/auth/login',
          payload: { email: 'someone@example.com', password: 'some-password' },
          headers,
          remoteAddress: IP,
        });
      expect((await attempt()).statusCode).toBe(401);
      expect((await attempt()).statusCode).toBe(429);
      expect(newAuditLines().map((l) => [l.event, l.reason])).toEqual([
        ['sign_in_failed', 'unknown_user'],
        ['sign_in_failed', 'rate_limited'],
      ]);
    } finally {
      await limited.close();
    }
  });
});
