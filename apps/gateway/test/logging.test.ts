/**
 * Criterion 10: logs (pino, the app's own redaction settings) never hold the password, the session
 * cookie's secret, the signed cookie value or the CSRF token — captured from a real sign-in.
 */
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { findTokenLeaks, sendTokenSpellings, TOKEN_SPELLINGS } from '@stagedoor/testkit/token-spellings';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, loggerOptions } from '../src/app.js';
import { DEMO_LISTENER, login, testConfig } from './support/gateway.js';

describe.each(['redis', 'memory'] as const)('log redaction (%s store)', (kind) => {
  const lines: string[] = [];
  let app: FastifyInstance;
  beforeAll(async () => {
    const config = testConfig(kind, { LOG_LEVEL: 'trace' });
    const stream = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(String(chunk));
        callback();
      },
    });
    app = await buildApp(config, {
      logger: { ...(loggerOptions(config) as object), level: 'trace', stream },
    });
    await app.ready();
  });
  afterAll(async () => app.close());

  it('a sign-in, its use and a failed sign-in leave no secret in the logs', async () => {
    const s = await login(app, DEMO_LISTENER.email, DEMO_LISTENER.password, {
      authorization: 'Bearer some-bearer-token-value',
    });
    await app.inject({ method: 'GET', url: '/auth/me', headers: { cookie: s.cookie } });
    await app.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrfToken },
    });
    await app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: DEMO_LISTENER.email, password: 'a-wrong-password-456' },
    });
    await app.inject({
      method: 'GET',
      url: '/auth/me?token=query-token-value',
      headers: { cookie: s.cookie },
    });
    const log = lines.join('');
    // The capture works: request lines are there.
    expect(log).toContain('/auth/login');
    expect(log).toContain('"statusCode":401');
    const secret = s.value.slice(0, s.value.lastIndexOf('.'));
    for (const forbidden of [
      DEMO_LISTENER.password,
      'a-wrong-password-456',
      secret,
      s.value,
      encodeURIComponent(s.value),
      s.csrfToken,
      'some-bearer-token-value',
      'query-token-value',
    ]) {
      expect(log).not.toContain(forbidden);
    }
  });
});

describe('logs, whatever the URL or header spelling (issue 11 §2)', () => {
  it('hold no piece of a minted media token or a session cookie sent in any spelling of the corpus', async () => {
    const lines: string[] = [];
    // Behind a trusted proxy the client address is read from X-Forwarded-For, which the client writes.
    const config = testConfig('memory', { LOG_LEVEL: 'trace', TRUST_PROXY: 'true' });
    const stream = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(String(chunk));
        callback();
      },
    });
    const app = await buildApp(config, {
      logger: { ...(loggerOptions(config) as object), level: 'trace', stream },
    });
    try {
      const s = await login(app);
      const minted = await app.inject({
        method: 'POST',
        url: '/media/tokens',
        headers: { cookie: s.cookie, 'x-csrf-token': s.csrfToken },
        payload: { prefix: 'catalog/' },
      });
      expect(minted.statusCode).toBe(201);
      const token: string = minted.json().token;
      await app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = app.server.address() as AddressInfo;
      const statuses = await sendTokenSpellings(port, token);
      // The session cookie is opaque, not JWT-shaped: the path rules (carrier segments, JWT shapes) are not
      // about it, so it is sent in every spelling but those that put it into a path segment.
      const cookieStatuses = await sendTokenSpellings(
        port,
        s.value,
        TOKEN_SPELLINGS.filter((spelling) => !spelling.name.startsWith('path ')),
      );
      if (process.env.DEBUG_LOGS) console.log(statuses, cookieStatuses, lines.join(''));
      // The capture works and the cookie is real: it signed the spelled-out request in.
      expect(statuses.size).toBe(TOKEN_SPELLINGS.length);
      expect(cookieStatuses.get('Cookie sid=')).toBe(200);
      expect(statuses.get('Authorization space before colon (invalid)')).toBe(400);
      const all = lines.join('');
      expect(all).toContain('"url":"/v1/t/[REDACTED]/catalog/a.wav"');
      expect(all).toContain('"statusCode":404');
      expect(all).toContain('client error');
      expect(findTokenLeaks(lines, token)).toEqual([]);
      expect(findTokenLeaks(lines, s.value)).toEqual([]);
    } finally {
      await app.close();
    }
  });
});
