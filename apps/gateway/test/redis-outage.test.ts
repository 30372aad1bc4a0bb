/**
 * Criterion 9: with Redis down the gateway answers JSON 503 (never a crash, never a stack trace),
 * `/readyz` says so, and service resumes without a restart when Redis is back. Runs its own
 * `redis-server` child on a free port so it can be killed and restarted.
 */
import type { ChildProcess } from 'node:child_process';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, DEMO_LISTENER, login, me, testConfig } from './support/gateway.js';
import { freePort, startRedis, stopRedis } from './support/redis-servers.js';

describe('Redis outage', () => {
  let port: number;
  let redis: ChildProcess;
  let app: FastifyInstance;
  beforeAll(async () => {
    port = await freePort();
    redis = await startRedis(port);
    app = await buildTestApp(testConfig('redis', { REDIS_URL: `redis://127.0.0.1:${port}/0` }));
  });
  afterAll(async () => {
    await app?.close();
    if (redis) await stopRedis(redis);
  });

  it('answers 503 JSON while Redis is down and recovers without a restart', async () => {
    const before = await login(app);
    expect((await me(app, before.cookie)).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);

    await stopRedis(redis);
    const started = Date.now();
    const checks = [
      await app.inject({ method: 'GET', url: '/readyz' }),
      await me(app, before.cookie),
      await app.inject({ method: 'GET', url: '/auth/sessions', headers: { cookie: before.cookie } }),
      await app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: DEMO_LISTENER.email, password: DEMO_LISTENER.password },
      }),
      await app.inject({
        method: 'POST',
        url: '/auth/logout',
        headers: { cookie: before.cookie, 'x-csrf-token': before.csrfToken },
      }),
    ];
    for (const res of checks) {
      expect(res.statusCode, res.body).toBe(503);
      expect(res.json()).toEqual({ error: 'service_unavailable', message: expect.any(String) });
      expect(res.body).not.toMatch(/ECONNREFUSED|ioredis|at .*\(|Stream isn't writeable/);
    }
    // Fail fast, do not hang on a dead connection.
    expect(Date.now() - started).toBeLessThan(15_000);
    // Routes that need no store keep working.
    expect(
      (await app.inject({ method: 'GET', url: '/healthz', headers: { cookie: before.cookie } })).statusCode,
    ).toBe(200);

    redis = await startRedis(port);
    let ready = 0;
    for (let i = 0; i < 100 && ready !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      ready = (await app.inject({ method: 'GET', url: '/readyz' })).statusCode;
    }
    expect(ready).toBe(200);
    // This Redis kept nothing (no persistence): the old session is gone, and the directory is empty, so
    // a user created now can sign in and use the session.
    expect((await me(app, before.cookie)).statusCode).toBe(401);
    await app.users.create({
      email: 'back@example.com',
      name: 'B',
      role: 'user',
      password: 'back-again-123',
    });
    const after = await login(app, 'back@example.com', 'back-again-123');
    expect((await me(app, after.cookie)).statusCode).toBe(200);
  });

  it('starts while Redis is down, answers 503, and serves (demo users seeded) once Redis appears', async () => {
    const laterPort = await freePort();
    const started = Date.now();
    const early = await buildTestApp(
      testConfig('redis', { REDIS_URL: `redis://127.0.0.1:${laterPort}/0`, REDIS_STARTUP_WAIT_MS: '300' }),
    );
    let later: ChildProcess | undefined;
    try {
      expect(Date.now() - started).toBeLessThan(10_000);
      const readyz = await early.inject({ method: 'GET', url: '/readyz' });
      expect(readyz.statusCode).toBe(503);
      expect(readyz.json().error).toBe('service_unavailable');
      const res = await early.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: DEMO_LISTENER.email, password: DEMO_LISTENER.password },
      });
      expect(res.statusCode).toBe(503);
      later = await startRedis(laterPort);
      let status = 0;
      for (let i = 0; i < 100 && status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        status = (
          await early.inject({
            method: 'POST',
            url: '/auth/login',
            payload: { email: DEMO_LISTENER.email, password: DEMO_LISTENER.password },
          })
        ).statusCode;
      }
      expect(status).toBe(200);
    } finally {
      await early.close();
      if (later) await stopRedis(later);
    }
  });
});
