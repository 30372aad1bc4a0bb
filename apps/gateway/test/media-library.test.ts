import { createServer, type Server, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { titleFromKey } from '../src/routes/media-library.js';
import { buildTestApp, login, testConfig } from './support/gateway.js';

/** A TCP server that accepts connections and never says a word: the worst kind of "down". */
async function silentServer(): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server, port: address.port, sockets };
}

/** A loopback port that nobody listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const { server, port } = await silentServer();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('GET /media/library when media is down', () => {
  let silent: Awaited<ReturnType<typeof silentServer>>;
  let hungApp: FastifyInstance;
  let refusedApp: FastifyInstance;
  beforeAll(async () => {
    silent = await silentServer();
    hungApp = await buildTestApp(
      testConfig('memory', { MEDIA_INTERNAL_URL: `http://127.0.0.1:${silent.port}` }),
    );
    refusedApp = await buildTestApp(
      testConfig('memory', { MEDIA_INTERNAL_URL: `http://127.0.0.1:${await closedPort()}` }),
    );
  });
  afterAll(async () => {
    await hungApp.close();
    await refusedApp.close();
    for (const socket of silent.sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.server.close(() => resolve()));
  });

  it('is 503 media_unavailable at once when the connection is refused', async () => {
    const session = await login(refusedApp);
    const started = Date.now();
    const res = await refusedApp.inject({ url: '/media/library', headers: { cookie: session.cookie } });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ error: 'media_unavailable', message: expect.any(String) });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('is 503 media_unavailable within about 3 s when media accepts but never answers', async () => {
    const session = await login(hungApp);
    const started = Date.now();
    const res = await hungApp.inject({ url: '/media/library', headers: { cookie: session.cookie } });
    const elapsed = Date.now() - started;
    expect(res.statusCode).toBe(503);
    expect(res.json().error).toBe('media_unavailable');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(elapsed).toBeGreaterThanOrEqual(2900);
    expect(elapsed).toBeLessThan(4500);
  });

  it('needs a session', async () => {
    const res = await hungApp.inject({ url: '/media/library' });
    expect(res.statusCode).toBe(401);
  });
});

describe('library titles', () => {
  it.each([
    ['catalog/night_drive-01.mp3', 'night drive 01'],
    ['users/u1/My Song.wav', 'My Song'],
    ['catalog/.hidden', '.hidden'],
    ['catalog/noext', 'noext'],
    ['catalog/___.wav', '___.wav'],
  ])('%s → %s', (key, title) => {
    expect(titleFromKey(key)).toBe(title);
  });
});
