/** Criterion 7: CSRF token and Origin checks on unsafe requests; CORS with an exact allowlist. */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { DEMO_LISTENER, login, me, testConfig } from './support/gateway.js';

const OWN = 'http://localhost:8080';
const FRONTEND = 'https://app.example.com';

describe('CSRF, Origin and CORS', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildApp(testConfig('memory', { CORS_ORIGINS: FRONTEND }), { logger: false });
    // A route registered like another helper's (e.g. POST /media/tokens): the checks are global.
    app.route({
      method: ['POST', 'PUT', 'PATCH', 'DELETE'],
      url: '/test/unsafe',
      handler: async () => ({ ok: true }),
    });
    await app.ready();
  });
  afterAll(async () => app.close());

  it('an unsafe request with the session cookie needs X-CSRF-Token equal to the session token', async () => {
    const s = await login(app);
    const missing = await app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie: s.cookie } });
    expect(missing.statusCode).toBe(403);
    expect(missing.json()).toEqual({ error: 'csrf_failed', message: expect.any(String) });
    const wrong = await app.inject({
      method: 'POST',
      url: '/auth/logout',
      // Change the last character to a different one (a fixed 'A' would equal the token 1 time in 64).
      headers: {
        cookie: s.cookie,
        'x-csrf-token': `${s.csrfToken.slice(0, -1)}${s.csrfToken.endsWith('A') ? 'B' : 'A'}`,
      },
    });
    expect(wrong.statusCode).toBe(403);
    const other = await login(app);
    const someoneElses = await app.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: { cookie: s.cookie, 'x-csrf-token': other.csrfToken },
    });
    expect(someoneElses.statusCode).toBe(403);
    expect((await me(app, s.cookie)).statusCode).toBe(200);
    const ok = await app.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrfToken },
    });
    expect(ok.statusCode).toBe(204);
  });

  it('applies to every unsafe method on every route, including ones added by others', async () => {
    const s = await login(app);
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
      const res = await app.inject({ method, url: '/test/unsafe', headers: { cookie: s.cookie } });
      expect(res.statusCode, method).toBe(403);
    }
    const withToken = await app.inject({
      method: 'POST',
      url: '/test/unsafe',
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrfToken },
    });
    expect(withToken.statusCode).toBe(200);
    // Without a session cookie the request is not cookie-authenticated: no token needed.
    expect((await app.inject({ method: 'POST', url: '/test/unsafe' })).statusCode).toBe(200);
  });

  it('refuses unsafe requests from a foreign Origin, sign-in included', async () => {
    const s = await login(app);
    const foreign = await app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { origin: 'https://evil.example' },
      payload: { email: DEMO_LISTENER.email, password: DEMO_LISTENER.password },
    });
    expect(foreign.statusCode).toBe(403);
    expect(foreign.json().error).toBe('csrf_failed');
    expect(foreign.headers['set-cookie']).toBeUndefined();
    const nullOrigin = await app.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: { origin: 'null', cookie: s.cookie, 'x-csrf-token': s.csrfToken },
    });
    expect(nullOrigin.statusCode).toBe(403);
    // Near-misses of an allowed origin are foreign too.
    for (const origin of [
      'http://localhost:8080.evil.example',
      'https://localhost:8080',
      'http://localhost',
    ]) {
      const res = await app.inject({ method: 'POST', url: '/test/unsafe', headers: { origin } });
      expect(res.statusCode, origin).toBe(403);
    }
    for (const origin of [OWN, FRONTEND]) {
      const res = await app.inject({
        method: 'POST',
        url: '/auth/login',
        headers: { origin },
        payload: { email: DEMO_LISTENER.email, password: DEMO_LISTENER.password },
      });
      expect(res.statusCode, origin).toBe(200);
    }
    // Safe methods are not Origin-checked.
    const get = await app.inject({
      method: 'GET',
      url: '/auth/me',
      headers: { origin: 'https://evil.example', cookie: s.cookie },
    });
    expect(get.statusCode).toBe(200);
  });

  it('CORS: allowlisted origins get credentials; others get no CORS headers', async () => {
    const preflight = await app.inject({
      method: 'OPTIONS',
      url: '/auth/logout',
      headers: {
        origin: FRONTEND,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'x-csrf-token,content-type',
      },
    });
    expect(preflight.statusCode).toBeLessThan(300);
    expect(preflight.headers['access-control-allow-origin']).toBe(FRONTEND);
    expect(preflight.headers['access-control-allow-credentials']).toBe('true');
    expect(String(preflight.headers['access-control-allow-headers']).toLowerCase()).toContain('x-csrf-token');
    const simple = await app.inject({ method: 'GET', url: '/healthz', headers: { origin: FRONTEND } });
    expect(simple.headers['access-control-allow-origin']).toBe(FRONTEND);
    expect(simple.headers.vary).toMatch(/origin/i);
    for (const origin of ['https://evil.example', 'https://app.example.com.evil.example', 'null']) {
      const res = await app.inject({
        method: 'OPTIONS',
        url: '/auth/logout',
        headers: { origin, 'access-control-request-method': 'POST' },
      });
      expect(res.headers['access-control-allow-origin'], origin).toBeUndefined();
      expect(res.headers['access-control-allow-credentials'], origin).toBeUndefined();
      expect(res.statusCode, origin).toBe(404);
    }
  });

  it('CORS details (the answers @fastify/cors gave, kept when the gateway took the hook over)', async () => {
    const preflight = await app.inject({
      method: 'OPTIONS',
      url: '/no/such/route',
      headers: { origin: FRONTEND, 'access-control-request-method': 'GET' },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers).toMatchObject({
      'access-control-allow-origin': FRONTEND,
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'Retry-After',
      'access-control-allow-methods': 'GET, HEAD, POST, PUT, PATCH, DELETE',
      'access-control-allow-headers': 'Content-Type, X-CSRF-Token, Authorization',
      'access-control-max-age': '600',
      'content-length': '0',
      vary: 'Origin',
    });
    // A preflight that names no method is refused, not answered with the allowlist.
    const noMethod = await app.inject({
      method: 'OPTIONS',
      url: '/auth/logout',
      headers: { origin: FRONTEND },
    });
    expect(noMethod.statusCode).toBe(400);
    expect(noMethod.headers['access-control-allow-methods']).toBeUndefined();
    // No Origin: no CORS headers, but the answer still varies on Origin for shared caches.
    const plain = await app.inject({ method: 'GET', url: '/healthz' });
    expect(plain.headers.vary).toBe('Origin');
    expect(Object.keys(plain.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    expect((await app.inject({ method: 'OPTIONS', url: '/auth/logout' })).statusCode).toBe(404);
    // Error answers from a listed origin stay readable by it.
    const missing = await app.inject({ method: 'GET', url: '/no/such/route', headers: { origin: FRONTEND } });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['access-control-allow-origin']).toBe(FRONTEND);
    // Origins are compared exactly: case, a trailing slash or a port make another origin.
    for (const origin of ['HTTPS://APP.EXAMPLE.COM', `${FRONTEND}/`, `${FRONTEND}:443`]) {
      const res = await app.inject({ method: 'GET', url: '/healthz', headers: { origin } });
      expect(res.headers['access-control-allow-origin'], origin).toBeUndefined();
    }
  });
});
