/**
 * ObjectStore against storage servers that misbehave on purpose (real HTTP servers on loopback): the answers
 * media gives when storage hangs, fails, resets or stalls, and how requests are addressed.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ObjectStore, type ObjectStoreOptions } from '../src/object-store.js';
import { StorageRequestError, StorageResponseError } from '../src/storage-http.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()?.();
});

async function storage(
  handler: http.RequestListener,
): Promise<{ port: number; requests: http.IncomingMessage[] }> {
  const requests: http.IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { port: (server.address() as AddressInfo).port, requests };
}

function store(port: number, overrides: Partial<ObjectStoreOptions> = {}): ObjectStore {
  const s = new ObjectStore({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    bucket: 'media',
    forcePathStyle: true,
    credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
    maxSockets: 4,
    maxFreeSockets: 4,
    freeSocketTimeoutMs: 5000,
    connectTimeoutMs: 300,
    requestTimeoutMs: 300,
    socketTimeoutMs: 300,
    maxAttempts: 2,
    ...overrides,
  });
  closers.push(async () => s.close());
  return s;
}

const never = new AbortController().signal;

describe('ObjectStore', () => {
  it('gives up on a store that never answers within attempts × request timeout', async () => {
    const { port, requests } = await storage(() => {});
    const started = Date.now();
    const error = await store(port)
      .get('a.wav', {}, never)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageRequestError);
    expect(Date.now() - started).toBeLessThan(2 * 300 + 400);
    expect(requests.length).toBe(2);
  });

  it('retries a 5xx once and then streams the answer', async () => {
    let calls = 0;
    const { port } = await storage((_req, res) => {
      calls += 1;
      if (calls === 1) res.writeHead(503).end('<Error><Code>SlowDown</Code></Error>');
      else res.writeHead(200, { 'content-length': '5', etag: '"e"' }).end('hello');
    });
    const out = await store(port).get('a.wav', {}, never);
    expect(out.status).toBe(200);
    let body = '';
    for await (const chunk of out.body) body += chunk;
    expect(body).toBe('hello');
    expect(calls).toBe(2);
  });

  it('reads the S3 error code, and does not retry a 4xx', async () => {
    let calls = 0;
    const { port } = await storage((_req, res) => {
      calls += 1;
      res.writeHead(404, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0"?><Error><Code>NoSuchBucket</Code><Message></Message></Error>');
    });
    const error = (await store(port)
      .get('a.wav', {}, never)
      .catch((e: unknown) => e)) as StorageResponseError;
    expect(error).toBeInstanceOf(StorageResponseError);
    expect([error.status, error.code, calls]).toEqual([404, 'NoSuchBucket', 1]);
  });

  it('fails a connection reset before the answer as "did not answer"', async () => {
    const server = net.createServer((socket) => socket.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise<void>((r) => server.close(() => r())));
    const error = await store((server.address() as AddressInfo).port)
      .get('a.wav', {}, never)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageRequestError);
  });

  it('ends a body that stalls midway after the socket timeout and frees the socket', async () => {
    const { port } = await storage((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('x'.repeat(10)); // ...and nothing more
    });
    const s = store(port);
    const out = await s.get('a.wav', {}, never);
    const started = Date.now();
    const outcome = await new Promise<string>((resolve) => {
      out.body.on('data', () => {});
      out.body.on('end', () => resolve('end'));
      out.body.on('error', () => resolve('error'));
      out.body.on('close', () => resolve('close'));
    });
    expect(outcome).not.toBe('end');
    expect(Date.now() - started).toBeLessThan(300 + 500);
    expect(out.body.destroyed).toBe(true);
  });

  it('stops the request when the caller aborts, before or during the answer', async () => {
    const { port } = await storage(() => {});
    const controller = new AbortController();
    const pending = store(port, { requestTimeoutMs: 10_000 }).get('a.wav', {}, controller.signal);
    setTimeout(() => controller.abort(), 50);
    const error = (await pending.catch((e: unknown) => e)) as Error;
    expect(error.name).toBe('AbortError');
    const aborted = AbortSignal.abort();
    expect(
      (
        (await store(port)
          .head('a.wav', aborted)
          .catch((e: unknown) => e)) as Error
      ).name,
    ).toBe('AbortError');
  });

  it('addresses path-style and virtual-hosted requests as the SDK does, with every header signed', async () => {
    const { port, requests } = await storage((_req, res) =>
      res.writeHead(200, { 'content-length': '0' }).end(),
    );
    // Virtual-hosted names need DNS: a lookup that sends every host name to the test server.
    const lookup: net.LookupFunction = (_hostname, options, callback) => {
      if (options.all)
        (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
          { address: '127.0.0.1', family: 4 },
        ]);
      else callback(null, '127.0.0.1', 4);
    };
    await store(port).get('dir/a b.wav', { range: { start: 5, end: undefined } }, never);
    const virtual = store(port, {
      endpoint: `http://s3.example.test:${port}`,
      forcePathStyle: false,
      lookup,
    });
    await virtual.get('dir/a b.wav', {}, never);
    const dotted = store(port, {
      endpoint: `http://s3.example.test:${port}`,
      forcePathStyle: false,
      lookup,
      bucket: 'Not_DNS',
    });
    await dotted.head('k', never);
    const [pathStyle, virtualHosted, fallback] = requests;
    expect([pathStyle?.url, pathStyle?.headers.host, pathStyle?.headers.range]).toEqual([
      '/media/dir/a%20b.wav',
      `127.0.0.1:${port}`,
      'bytes=5-',
    ]);
    expect([virtualHosted?.url, virtualHosted?.headers.host]).toEqual([
      '/dir/a%20b.wav',
      `media.s3.example.test:${port}`,
    ]);
    expect([fallback?.method, fallback?.url, fallback?.headers.host]).toEqual([
      'HEAD',
      '/Not_DNS/k',
      `s3.example.test:${port}`,
    ]);
    for (const req of requests) {
      const signed = /SignedHeaders=([^,]+)/.exec(String(req.headers.authorization))?.[1]?.split(';') ?? [];
      const sent = Object.keys(req.headers).filter((h) => h !== 'connection' && h !== 'authorization');
      expect(signed.sort()).toEqual(sent.sort());
    }
  });
});
