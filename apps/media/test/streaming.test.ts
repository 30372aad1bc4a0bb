import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadMediaConfig } from '../src/config.js';
import { spareBufferCounts } from '../src/storage-http.js';
import { patternBytes, useMedia } from './support.js';

// No clock tolerance here, so a 2-second token really is expired 2 seconds later.
const h = useMedia({ env: { CLOCK_TOLERANCE_SECONDS: '0', S3_MAX_SOCKETS: '16' } });
const KEY = 'catalog/big.bin';
const SIZE = 24 * 1024 * 1024;
let port = 0;

beforeAll(async () => {
  await h.putObject(KEY, patternBytes(SIZE), 'application/octet-stream');
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  port = (h.app.server.address() as AddressInfo).port;
});
afterAll(async () => {
  await h.app.close();
});

function activeStorageSockets(): number {
  return h.app.storage.store.connections().busy;
}

async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

/** Starts a download, reads `bytes` of it and walks away (the socket is destroyed). */
function abortAfter(path: string, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let seen = 0;
      res.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen >= bytes) {
          req.destroy();
          resolve(res.statusCode ?? 0);
        }
      });
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (error) => {
      if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(error);
    });
  });
}

describe('streaming', () => {
  it('100 downloads abandoned midway leave no storage socket busy and memory flat', async () => {
    const token = await h.mediaToken(KEY);
    const path = `/v1/objects/${KEY}?token=${token}`;
    await abortAfter(path, 256 * 1024); // warm-up: code paths loaded, pools created
    expect(await waitFor(() => activeStorageSockets() === 0, 5000)).toBe(true);
    globalThis.gc?.();
    const before = process.memoryUsage();
    for (let round = 0; round < 10; round++) {
      const statuses = await Promise.all(Array.from({ length: 10 }, () => abortAfter(path, 512 * 1024)));
      expect(statuses.every((s) => s === 200)).toBe(true);
    }
    // Every abandoned read was cut at storage: no socket is still busy pulling a body nobody reads.
    expect(await waitFor(() => activeStorageSockets() === 0, 5000)).toBe(true);
    // …and every large read buffer came back (an idle connection keeps the one its socket reads into), so
    // clients that leave do not use up the buffers that make a single stream fast.
    const largeOut = () => spareBufferCounts().largeAllocated - spareBufferCounts().large;
    expect(await waitFor(() => largeOut() <= h.app.storage.store.connections().idle, 2000)).toBe(true);
    globalThis.gc?.();
    const after = process.memoryUsage();
    // 100 × 24 MiB would be 2.4 GB if bodies were buffered; streaming keeps the growth to buffers in flight.
    expect(after.rss - before.rss).toBeLessThan(96 * 1024 * 1024);
    expect(after.heapUsed - before.heapUsed).toBeLessThan(48 * 1024 * 1024);
    // And the service still works after all that.
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { range: 'bytes=0-9' } });
    expect(res.status).toBe(206);
    expect(Buffer.from(await res.arrayBuffer()).equals(patternBytes(10))).toBe(true);
  });

  it('a client that leaves before the body starts cancels the storage request', async () => {
    const token = await h.mediaToken(KEY);
    await Promise.all(Array.from({ length: 20 }, () => abortAfter(`/v1/objects/${KEY}?token=${token}`, 1)));
    expect(await waitFor(() => activeStorageSockets() === 0, 5000)).toBe(true);
  });

  it('a response that started under a valid token runs to its end after the token expires', async () => {
    const token = await h.mediaToken(KEY, { ttlSeconds: 2 });
    const received = await new Promise<{ status: number; bytes: number }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: `/v1/objects/${KEY}?token=${token}` }, (res) => {
          let bytes = 0;
          let paused = false;
          res.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            if (!paused) {
              paused = true;
              res.pause();
              setTimeout(() => res.resume(), 3000);
            }
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    expect(received).toEqual({ status: 200, bytes: SIZE });
    // …while a new request with the same token is refused.
    const again = await fetch(`http://127.0.0.1:${port}/v1/objects/${KEY}?token=${token}`);
    expect(again.status).toBe(401);
  });

  /** Runs `check` against a second app whose storage is a raw TCP server behaving as `onConnection` says. */
  async function againstStorage(
    onConnection: (socket: net.Socket) => void,
    env: Record<string, string>,
    check: (app: Awaited<ReturnType<typeof buildApp>>) => Promise<void>,
  ): Promise<void> {
    const storage = net.createServer(onConnection);
    await new Promise<void>((r) => storage.listen(0, '127.0.0.1', r));
    const app = await buildApp(
      loadMediaConfig({
        ...h.env,
        S3_ENDPOINT: `http://127.0.0.1:${(storage.address() as AddressInfo).port}`,
        ...env,
      }),
      { logger: false },
    );
    try {
      await check(app);
    } finally {
      await app.close();
      storage.close();
    }
  }

  it('answers 503 storage_unavailable in bounded time when storage accepts connections but never answers', async () => {
    await againstStorage(
      () => {},
      { S3_REQUEST_TIMEOUT_MS: '300', S3_MAX_ATTEMPTS: '2' },
      async (app) => {
        const token = await h.mediaToken(KEY);
        const started = Date.now();
        const res = await app.inject({ url: `/v1/objects/${KEY}?token=${token}` });
        expect(res.statusCode).toBe(503);
        expect(res.json().error).toBe('storage_unavailable');
        expect(Date.now() - started).toBeLessThan(2 * 300 + 700);
      },
    );
  });

  it('answers 502 storage_unavailable when storage sends something that is not HTTP', async () => {
    await againstStorage(
      (socket) => socket.end('SSH-2.0-OpenSSH_9.2\r\n\r\n'),
      { S3_MAX_ATTEMPTS: '1' },
      async (app) => {
        const token = await h.mediaToken(KEY);
        const res = await app.inject({ url: `/v1/objects/${KEY}?token=${token}` });
        expect([res.statusCode, res.json().error]).toEqual([502, 'storage_unavailable']);
      },
    );
  });

  it('streams without ever loading the AWS SDK (kept for listing and uploads)', () => {
    expect(h.app.storage.sdkLoaded).toBe(false);
  });
});
