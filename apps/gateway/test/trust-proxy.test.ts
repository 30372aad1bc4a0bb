/**
 * TRUST_PROXY: which X-Forwarded-For entries the gateway believes. A proxy appends the address it saw
 * after whatever the client sent, so only the entries the trusted hops wrote can be believed; believing
 * all of them let a client pick its own address and step around every per-source limit.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, DEMO_LISTENER, login, testConfig } from './support/gateway.js';

const PROXY = '127.0.0.1';
const CLIENT = '203.0.113.7';

describe('TRUST_PROXY=true (one hop: the proxy in front)', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildTestApp(
      testConfig('memory', {
        TRUST_PROXY: 'true',
        LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_IP: '3',
        LOGIN_MAX_FAILURES_PER_IP: '6',
        LOGIN_MAX_FAILURES_PER_ACCOUNT: '9',
      }),
    );
  });
  afterAll(() => app.close());

  const wrongFrom = (forwardedFor: string) =>
    app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: DEMO_LISTENER.email, password: 'not the password' },
      remoteAddress: PROXY,
      headers: { 'x-forwarded-for': forwardedFor },
    });

  it('a client that writes its own X-Forwarded-For is still limited by the address the proxy saw', async () => {
    // Every attempt claims a new address; the proxy appends the one real address after it.
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await wrongFrom(`198.51.100.${i + 1}, ${CLIENT}`)).statusCode);
    expect(statuses).toEqual([401, 401, 401, 429, 429, 429]);
  });

  it('records the address the proxy saw, and never one that is not an address', async () => {
    const session = await login(app, DEMO_LISTENER.email, DEMO_LISTENER.password, {
      'x-forwarded-for': `6.6.6.6, 192.0.2.44`,
    });
    const list = await app.inject({
      method: 'GET',
      url: '/auth/sessions',
      headers: { cookie: session.cookie },
    });
    const current = list.json().sessions.find((s: { current: boolean }) => s.current);
    expect(current.ip).toBe('192.0.2.44');

    const junk = 'eyJhbGciOiJFZERTQSJ9.not-an-address';
    const other = await login(app, DEMO_LISTENER.email, DEMO_LISTENER.password, { 'x-forwarded-for': junk });
    const mine = await app.inject({
      method: 'GET',
      url: '/auth/sessions',
      headers: { cookie: other.cookie },
    });
    const recorded = mine.json().sessions.find((s: { current: boolean }) => s.current);
    expect(recorded.ip).toBe(PROXY);
    expect(mine.body).not.toContain(junk);
  });
});

describe('TRUST_PROXY settings', () => {
  it('accepts true, false, a hop count and proxy addresses, and names anything else', () => {
    expect(testConfig('memory', {}).trustProxy).toBe(false);
    expect(testConfig('memory', { TRUST_PROXY: 'true' }).trustProxy).toBe(1);
    expect(testConfig('memory', { TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(testConfig('memory', { TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(testConfig('memory', { TRUST_PROXY: '10.0.0.0/8, ::1' }).trustProxy).toEqual([
      '10.0.0.0/8',
      '::1',
    ]);
    expect(() => testConfig('memory', { TRUST_PROXY: 'everyone, 10.0.0.0/40' })).toThrow(
      /TRUST_PROXY must be .* \(not: everyone, 10\.0\.0\.0\/40\)/,
    );
  });
});
