/**
 * /oauth/token while the store of the attempt counters (Redis) is down: an RFC 6749 error body, 503,
 * `no-store`, and never a token issued without the rate limit being checked.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { DEMO_SERVICE_CLIENT } from '@stagedoor/shared/demo';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, testConfig } from './support/gateway.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', ''], {
    stdio: 'ignore',
  });
  const probe = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  for (let i = 0; i < 100; i++) {
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return child;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error('redis-server did not start');
}

describe('POST /oauth/token with Redis down', () => {
  let redis: ChildProcess;
  let app: FastifyInstance;
  beforeAll(async () => {
    const port = await freePort();
    redis = await startRedis(port);
    app = await buildTestApp(testConfig('redis', { REDIS_URL: `redis://127.0.0.1:${port}/0` }));
  });
  afterAll(async () => {
    await app?.close();
    if (redis.exitCode === null) redis.kill('SIGKILL');
  });

  const request = () =>
    app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: DEMO_SERVICE_CLIENT.id,
        client_secret: DEMO_SERVICE_CLIENT.secret,
      }).toString(),
    });

  it('issues tokens while Redis answers, and answers 503 temporarily_unavailable when it does not', async () => {
    expect((await request()).statusCode).toBe(200);
    const exited = new Promise((r) => redis.once('exit', r));
    redis.kill('SIGKILL');
    await exited;
    const res = await request();
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String) });
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).not.toMatch(/ECONNREFUSED|ioredis|access_token/);
  });
});
