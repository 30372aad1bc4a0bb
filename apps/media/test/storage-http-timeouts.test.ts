/**
 * Storage's idle timeout (`S3_SOCKET_TIMEOUT_MS`) through the whole media app: it measures storage's silence
 * only while media wants bytes. A client that pauses (a paused <video> whose buffer is full) stops media
 * reading storage; that silence is media's own and must not cut the stream. Storage going silent while
 * media reads still does. The timeout is small here (1 s) so that pauses of twice its length are short.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadMediaConfig } from '../src/config.js';
import { useMedia } from './support.js';

// 1 s rather than less: a loaded CI machine can stall the event loop for some hundreds of ms, which fires a
// socket timer however busy the socket was.
const SOCKET_TIMEOUT_MS = 1000;
const h = useMedia({ env: { S3_SOCKET_TIMEOUT_MS: String(SOCKET_TIMEOUT_MS), S3_MAX_ATTEMPTS: '1' } });
const KEY = 'catalog/pause.bin';
const SIZE = 96 * 1024 * 1024;
const MiB = 1024 * 1024;
let object: Buffer;
let port = 0;

beforeAll(async () => {
  object = randomBytes(SIZE);
  await h.putObject(KEY, object, 'application/octet-stream');
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  port = (h.app.server.address() as AddressInfo).port;
}, 60_000);

const sha256 = (bytes: Buffer | Uint8Array) => createHash('sha256').update(bytes).digest('hex');

interface Download {
  status: number;
  bytes: number;
  sha256: string;
  /** How the response ended: 'end' (complete), or the error that cut it. */
  outcome: string;
  /** Milliseconds from the moment the client last resumed (or started) to the outcome. */
  afterResumeMs: number;
}

/**
 * GETs `path` from media at `mediaPort`, reads `pauseAfter` bytes, pauses for `pauseMs` (not reading at all,
 * so the kernel's buffers fill and media runs out of read buffers), then reads the rest.
 */
function download(
  mediaPort: number,
  path: string,
  pauseAfter: number,
  pauseMs: number,
  headers: http.OutgoingHttpHeaders = {},
): Promise<Download> {
  return new Promise((resolve) => {
    const hash = createHash('sha256');
    let bytes = 0;
    let status = 0;
    let paused = false;
    let resumedAt = Date.now();
    let done = false;
    // A stream that neither ends nor is cut is a failure too: reported as such instead of a hung test.
    const giveUp = setTimeout(() => {
      finish('still open after 15 s');
      req.destroy();
    }, 15_000);
    const finish = (outcome: string) => {
      if (done) return;
      done = true;
      clearTimeout(giveUp);
      resolve({ status, bytes, sha256: hash.digest('hex'), outcome, afterResumeMs: Date.now() - resumedAt });
    };
    const req = http.get({ host: '127.0.0.1', port: mediaPort, path, agent: false, headers }, (res) => {
      status = res.statusCode ?? 0;
      res.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
        if (!paused && bytes >= pauseAfter) {
          paused = true;
          res.pause();
          setTimeout(() => {
            resumedAt = Date.now();
            res.resume();
          }, pauseMs);
        }
      });
      res.on('end', () => finish(res.complete ? 'end' : 'incomplete'));
      res.on('error', (error) => finish((error as NodeJS.ErrnoException).code ?? error.message));
      res.on('close', () => finish(res.complete ? 'end' : 'closed'));
    });
    req.on('error', (error) => finish((error as NodeJS.ErrnoException).code ?? error.message));
  });
}

describe('storage idle timeout', () => {
  it('a client that reads 1 MiB, pauses for twice the socket timeout, then reads on gets every byte', async () => {
    const token = await h.mediaToken(KEY);
    const got = await download(port, `/v1/objects/${KEY}?token=${token}`, MiB, 2 * SOCKET_TIMEOUT_MS + 100);
    expect({ status: got.status, bytes: got.bytes, outcome: got.outcome }).toEqual({
      status: 200,
      bytes: SIZE,
      outcome: 'end',
    });
    expect(got.sha256).toBe(sha256(object));
  }, 60_000);

  it('a ranged read that pauses the same way is byte-exact too', async () => {
    const token = await h.mediaToken(KEY);
    const start = 1234567;
    // The same pause, with a Range: the window path of the body.
    const got = await download(port, `/v1/objects/${KEY}?token=${token}`, MiB, 2 * SOCKET_TIMEOUT_MS + 100, {
      range: `bytes=${start}-`,
    });
    expect([got.status, got.bytes, got.outcome]).toEqual([206, SIZE - start, 'end']);
    expect(got.sha256).toBe(sha256(object.subarray(start)));
  }, 60_000);

  describe('a client that takes nothing for SEND_TIMEOUT_MS (a paused player holding a storage connection)', () => {
    const SEND_TIMEOUT_MS = 1500;
    let app: Awaited<ReturnType<typeof buildApp>>;
    let mediaPort = 0;
    beforeAll(async () => {
      app = await buildApp(loadMediaConfig({ ...h.env, SEND_TIMEOUT_MS: String(SEND_TIMEOUT_MS) }), {
        logger: false,
      });
      await app.listen({ host: '127.0.0.1', port: 0 });
      mediaPort = (app.server.address() as AddressInfo).port;
    });
    afterAll(() => app.close());

    it('is cut off, and its storage connection is freed; a pause shorter than that keeps the stream', async () => {
      const token = await h.mediaToken(KEY);
      const url = `/v1/objects/${KEY}?token=${token}`;
      // Shorter than the send timeout (and longer than storage's): every byte, as above.
      const kept = await download(mediaPort, url, MiB, SEND_TIMEOUT_MS - 700);
      expect([kept.status, kept.bytes, kept.outcome]).toEqual([200, SIZE, 'end']);
      const started = Date.now();
      const cutting = download(mediaPort, url, MiB, SEND_TIMEOUT_MS + 8000);
      // The storage read is under way, then ends while the client is still paused (it resumes only after
      // SEND_TIMEOUT_MS + 8 s): media cut the client off and let go of storage's connection.
      await expect.poll(() => app.storage.store.connections().busy, { timeout: 5000 }).toBe(1);
      await expect
        .poll(() => app.storage.store.connections().busy, { timeout: SEND_TIMEOUT_MS + 6000 })
        .toBe(0);
      const freedAfter = Date.now() - started;
      expect(freedAfter).toBeGreaterThanOrEqual(SEND_TIMEOUT_MS);
      expect(freedAfter).toBeLessThan(SEND_TIMEOUT_MS + 8000);
      const cut = await cutting;
      expect(cut.status).toBe(200);
      expect(cut.outcome).not.toBe('end');
      expect(cut.bytes).toBeLessThan(SIZE);
    }, 60_000);
  });

  describe('storage that goes silent mid-body (a raw loopback server)', () => {
    const BODY = 32 * MiB;
    const SENT = 24 * MiB;
    let storage: net.Server;
    let app: Awaited<ReturnType<typeof buildApp>>;
    let mediaPort = 0;
    const sockets: net.Socket[] = [];

    beforeAll(async () => {
      // Answers every GET with a 32 MiB body of which it sends 24 MiB, then says nothing more (the
      // connection stays open): storage that stalls.
      storage = net.createServer((socket) => {
        sockets.push(socket);
        socket.on('error', () => {});
        socket.once('data', () => {
          socket.write(
            `HTTP/1.1 200 OK\r\nContent-Length: ${BODY}\r\nETag: "stall"\r\nContent-Type: application/octet-stream\r\n\r\n`,
          );
          socket.write(object.subarray(0, SENT));
        });
      });
      await new Promise<void>((r) => storage.listen(0, '127.0.0.1', r));
      app = await buildApp(
        loadMediaConfig({
          ...h.env,
          S3_ENDPOINT: `http://127.0.0.1:${(storage.address() as AddressInfo).port}`,
        }),
        { logger: false },
      );
      await app.listen({ host: '127.0.0.1', port: 0 });
      mediaPort = (app.server.address() as AddressInfo).port;
    });
    afterAll(async () => {
      await app.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((r) => storage.close(r));
    });

    it('cuts the stream when storage stops sending while the client reads', async () => {
      const token = await h.mediaToken(KEY);
      const got = await download(mediaPort, `/v1/objects/${KEY}?token=${token}`, SIZE, 0);
      expect(got.status).toBe(200);
      expect(got.outcome).not.toBe('end');
      expect(got.bytes).toBe(SENT); // all that storage sent, nothing made up
      expect(got.sha256).toBe(sha256(object.subarray(0, SENT)));
      // Bounded: the socket timeout after storage's last byte (generous: the machine is shared).
      expect(got.afterResumeMs).toBeLessThan(SOCKET_TIMEOUT_MS + 5000);
    });

    it('times storage out again once a paused client resumes (the timeout is re-armed)', async () => {
      const token = await h.mediaToken(KEY);
      // The client pauses after 1 MiB: media stops reading storage (24 MiB is far more than the kernel's
      // buffers and media's hold) and the stream survives the pause. Once the client reads again and has
      // all 24 MiB, storage's silence is storage's: the stream is cut.
      const started = Date.now();
      const got = await download(
        mediaPort,
        `/v1/objects/${KEY}?token=${token}`,
        MiB,
        2 * SOCKET_TIMEOUT_MS + 100,
      );
      expect(got.status).toBe(200);
      expect(got.bytes).toBe(SENT);
      expect(got.sha256).toBe(sha256(object.subarray(0, SENT)));
      expect(got.outcome).not.toBe('end');
      expect(Date.now() - started).toBeGreaterThan(2 * SOCKET_TIMEOUT_MS);
      expect(got.afterResumeMs).toBeLessThan(SOCKET_TIMEOUT_MS + 5000);
    });
  });
});
