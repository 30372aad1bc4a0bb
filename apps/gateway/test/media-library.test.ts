import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { MEDIA_AUDIENCE } from '@stagedoor/shared/tokens';
import type { FastifyInstance } from 'fastify';
import { createLocalJWKSet, jwtVerify } from 'jose';
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

describe("the gateway's own service token", () => {
  it('is an at+jwt for client "gateway" with media:list only, reused across requests', async () => {
    const seen: string[] = [];
    const media = createHttpServer((req, res) => {
      seen.push(req.headers.authorization ?? '');
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"items":[],"nextCursor":null}');
    });
    await new Promise<void>((resolve) => media.listen(0, '127.0.0.1', resolve));
    const port = (media.address() as { port: number }).port;
    const app = await buildTestApp(
      testConfig('memory', {
        MEDIA_INTERNAL_URL: `http://127.0.0.1:${port}`,
        GATEWAY_PUBLIC_URL: 'http://gw.test',
      }),
    );
    try {
      const session = await login(app);
      for (let i = 0; i < 2; i++) {
        const res = await app.inject({ url: '/media/library', headers: { cookie: session.cookie } });
        expect(res.statusCode).toBe(200);
        expect(res.json()).toEqual({ items: [] });
      }
      // Two prefixes (catalog/, users/<id>/) per request, one token for all four calls.
      expect(seen).toHaveLength(4);
      expect(new Set(seen).size).toBe(1);
      const token = (seen[0] ?? '').replace(/^Bearer /, '');
      const jwks = createLocalJWKSet((await app.inject({ url: '/.well-known/jwks.json' })).json());
      const { payload, protectedHeader } = await jwtVerify(token, jwks, {
        issuer: 'http://gw.test',
        audience: MEDIA_AUDIENCE,
        typ: 'at+jwt',
      });
      expect(protectedHeader.typ).toBe('at+jwt');
      expect(payload).toMatchObject({ sub: 'gateway', client_id: 'gateway', scope: 'media:list' });
    } finally {
      await app.close();
      media.closeAllConnections();
      await new Promise<void>((resolve) => media.close(() => resolve()));
    }
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
