/**
 * Criterion 10: logs (pino, the app's own redaction settings) never hold the password, the session
 * cookie's secret, the signed cookie value or the CSRF token — captured from a real sign-in.
 */
import { Writable } from 'node:stream';
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
