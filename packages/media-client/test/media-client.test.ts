/**
 * The client's failure handling against real sockets: a refused connection, a server that accepts but
 * never answers, error statuses, a 401 retried once with a fresh token. (Its happy paths run against the
 * real media in tests/integration.)
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaClientError } from '../src/errors.js';
import { MediaClient } from '../src/media-client.js';
import { cachedTokenSource } from '../src/token-source.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let handler: Handler = (_req, res) => res.end();
const seenAuthorizations: string[] = [];
const http = createHttpServer((req, res) => {
  seenAuthorizations.push(req.headers.authorization ?? '');
  handler(req, res);
});
const sockets = new Set<Socket>();
const silent = createServer((socket) => {
  sockets.add(socket);
});
let httpUrl = '';
let silentUrl = '';
let closedUrl = '';

async function listen(server: {
  listen: (...a: never[]) => unknown;
  address: () => unknown;
}): Promise<number> {
  await new Promise<void>((resolve) =>
    (server.listen as (p: number, h: string, cb: () => void) => void)(0, '127.0.0.1', resolve),
  );
  return (server.address() as { port: number }).port;
}

beforeAll(async () => {
  httpUrl = `http://127.0.0.1:${await listen(http)}`;
  silentUrl = `http://127.0.0.1:${await listen(silent)}`;
  const closing = createServer();
  const port = await listen(closing);
  await new Promise<void>((resolve) => closing.close(() => resolve()));
  closedUrl = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => silent.close(() => resolve()));
  http.closeAllConnections();
  await new Promise<void>((resolve) => http.close(() => resolve()));
});

let minted = 0;
function client(baseUrl: string, timeoutMs = 500): MediaClient {
  const tokens = cachedTokenSource(async () => ({
    token: `svc-${++minted}`,
    expiresAt: Date.now() / 1000 + 300,
  }));
  return new MediaClient({ baseUrl, tokens, timeoutMs });
}

async function failure(promise: Promise<unknown>): Promise<MediaClientError> {
  const error = await promise.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(MediaClientError);
  return error as MediaClientError;
}

describe('MediaClient failures', () => {
  it('a refused connection is unavailable, at once', async () => {
    const started = Date.now();
    const error = await failure(client(closedUrl).listCatalog({ prefix: 'catalog/' }));
    expect(error.code).toBe('unavailable');
    expect(Date.now() - started).toBeLessThan(400);
  });

  it('a server that never answers is unavailable after the timeout', async () => {
    const started = Date.now();
    const error = await failure(client(silentUrl, 300).listCatalog({ prefix: 'catalog/' }));
    expect(error.code).toBe('unavailable');
    expect(error.message).toMatch(/timed out/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('maps statuses to codes and keeps media’s error code', async () => {
    const cases: [number, string][] = [
      [403, 'forbidden'],
      [404, 'not_found'],
      [400, 'invalid_request'],
      [503, 'unavailable'],
    ];
    for (const [status, code] of cases) {
      handler = (_req, res) => {
        res
          .writeHead(status, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: `e${status}`, message: 'x' }));
      };
      const error = await failure(client(httpUrl).listCatalog({ prefix: 'catalog/' }));
      expect([error.code, error.status, error.remoteCode]).toEqual([code, status, `e${status}`]);
    }
  });

  it('retries a 401 once with a fresh token, then gives up as unauthorized', async () => {
    seenAuthorizations.length = 0;
    handler = (_req, res) => {
      res
        .writeHead(401, { 'content-type': 'application/json' })
        .end('{"error":"invalid_token","message":"x"}');
    };
    const error = await failure(client(httpUrl).listCatalog({ prefix: 'catalog/' }));
    expect(error.code).toBe('unauthorized');
    expect(seenAuthorizations).toHaveLength(2);
    expect(seenAuthorizations[0]).not.toBe(seenAuthorizations[1]);
  });

  it('refuses an answer that is not the contract’s shape', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"items":[{"key":1}]}');
    };
    expect((await failure(client(httpUrl).listCatalog({ prefix: 'catalog/' }))).code).toBe('bad_response');
  });

  it('checks keys and prefixes before sending anything', async () => {
    seenAuthorizations.length = 0;
    expect((await failure(client(httpUrl).listCatalog({ prefix: 'catalog' }))).code).toBe('invalid_request');
    expect((await failure(client(httpUrl).headObject('../etc/passwd'))).code).toBe('invalid_request');
    expect(seenAuthorizations).toHaveLength(0);
  });

  it('pages through a listing with the cursor', async () => {
    handler = (req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const cursor = url.searchParams.get('cursor');
      const item = (key: string) => ({
        key,
        size: 1,
        contentType: 'audio/wav',
        etag: '"e"',
        lastModified: 'now',
      });
      const body =
        cursor === null
          ? { items: [item('catalog/a')], nextCursor: 'c2' }
          : { items: [item('catalog/b')], nextCursor: null };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const items = await client(httpUrl).listAll('catalog/');
    expect(items.map((i) => i.key)).toEqual(['catalog/a', 'catalog/b']);
  });
});
