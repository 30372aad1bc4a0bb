import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { MEDIA_AUDIENCE } from '@stagedoor/shared/tokens';
import type { FastifyInstance } from 'fastify';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupHlsRenditions } from '../src/library/hls-renditions.js';
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

describe('HLS renditions in the library', () => {
  const listing = (keys: string[]) =>
    keys.map((key) => ({ key, contentType: contentTypeOf(key), size: 100 }));
  function contentTypeOf(key: string): string {
    if (key.endsWith('.m3u8')) return 'application/vnd.apple.mpegurl';
    if (key.endsWith('.m4s')) return 'video/iso.segment';
    if (key.endsWith('.mp4')) return 'video/mp4';
    return 'audio/wav';
  }

  it('lists a rendition once, as its master playlist, hiding variant playlists, init files and segments', () => {
    const grouped = groupHlsRenditions(
      listing([
        'catalog/a.wav',
        'catalog/hls/show/master.m3u8',
        'catalog/hls/show/v1/index.m3u8',
        'catalog/hls/show/v1/init.mp4',
        'catalog/hls/show/v1/seg-000.m4s',
        'catalog/hls/show/v2/index.m3u8',
        'catalog/hls/show/v2/seg-000.m4s',
        'catalog/z.mp4',
      ]),
      ['catalog/'],
    );
    expect(grouped).toEqual([
      { key: 'catalog/a.wav', contentType: 'audio/wav', size: 100 },
      {
        key: 'catalog/hls/show/master.m3u8',
        contentType: 'application/vnd.apple.mpegurl',
        size: 600,
        renditionFolder: 'catalog/hls/show/',
      },
      { key: 'catalog/z.mp4', contentType: 'video/mp4', size: 100 },
    ]);
  });

  it('takes master.m3u8 over other playlists in the folder, else the first by name; renditions stay apart', () => {
    const grouped = groupHlsRenditions(
      listing([
        'catalog/hls/one/a.m3u8',
        'catalog/hls/one/master.m3u8',
        'catalog/hls/one/s.ts',
        'catalog/hls/two/b.m3u8',
        'catalog/hls/two/a.m3u8',
        'catalog/hls/two/s.ts',
      ]),
      ['catalog/'],
    );
    expect(grouped.map((item) => [item.key, item.size])).toEqual([
      ['catalog/hls/one/master.m3u8', 300],
      ['catalog/hls/two/a.m3u8', 300],
    ]);
  });

  it('never takes a listing root for a rendition: a playlist right under catalog/ hides nothing', () => {
    const keys = ['catalog/live.m3u8', 'catalog/a.wav', 'catalog/b.mp4'];
    expect(groupHlsRenditions(listing(keys), ['catalog/']).map((item) => item.key)).toEqual(keys);
  });

  it('GET /media/library answers one item per rendition, titled by its folder', async () => {
    const media = createHttpServer((req, res) => {
      const prefix = new URL(req.url ?? '/', 'http://media').searchParams.get('prefix') ?? '';
      const keys = prefix.startsWith('catalog/')
        ? [
            'catalog/clip.mp4',
            'catalog/hls/night-drive/master.m3u8',
            'catalog/hls/night-drive/v0/index.m3u8',
            'catalog/hls/night-drive/v0/seg-000.m4s',
          ]
        : [];
      const items = listing(keys).map((item) => ({
        ...item,
        etag: '"e"',
        lastModified: new Date(0).toISOString(),
      }));
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ items, nextCursor: null }));
    });
    await new Promise<void>((resolve) => media.listen(0, '127.0.0.1', resolve));
    const port = (media.address() as { port: number }).port;
    const app = await buildTestApp(testConfig('memory', { MEDIA_INTERNAL_URL: `http://127.0.0.1:${port}` }));
    try {
      const session = await login(app);
      const res = await app.inject({ url: '/media/library', headers: { cookie: session.cookie } });
      expect(res.statusCode).toBe(200);
      expect(res.json().items).toEqual([
        { key: 'catalog/clip.mp4', title: 'clip', contentType: 'video/mp4', size: 100 },
        {
          key: 'catalog/hls/night-drive/master.m3u8',
          title: 'night drive',
          contentType: 'application/vnd.apple.mpegurl',
          size: 300,
        },
      ]);
    } finally {
      await app.close();
      media.closeAllConnections();
      await new Promise<void>((resolve) => media.close(() => resolve()));
    }
  });
});
