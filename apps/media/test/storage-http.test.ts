/**
 * Media's HTTP/1.1 client to storage (src/storage-http.ts) against raw loopback servers that write exactly the
 * bytes each test needs: framing, keep-alive and its races, the pool's bound, timeouts, TLS, and the property
 * the pooled buffers rest on, that no buffer is read into again while a write of it is still in flight.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import * as tls from 'node:tls';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  type StorageAnswer,
  StoragePool,
  type StoragePoolOptions,
  StorageRequestError,
  spareBufferCounts,
} from '../src/storage-http.js';

const closers: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()?.();
});

interface RawServer {
  port: number;
  /** Connections accepted so far. */
  connections: net.Socket[];
  /** Request heads received, in order. */
  heads: string[];
}

/** A TCP server that calls `onRequest` with each request head (one at a time per connection). */
async function rawServer(
  onRequest: (socket: net.Socket, head: string, index: number) => void,
  createServer: (listener: (socket: net.Socket) => void) => net.Server = net.createServer,
): Promise<RawServer> {
  const state: RawServer = { port: 0, connections: [], heads: [] };
  const server = createServer((socket) => {
    state.connections.push(socket);
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end !== -1; end = buffered.indexOf('\r\n\r\n')) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        state.heads.push(head);
        onRequest(socket, head, state.heads.length - 1);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.port = (server.address() as AddressInfo).port;
  closers.push(
    () =>
      new Promise<void>((r) => {
        for (const socket of state.connections) socket.destroy();
        server.close(() => r());
      }),
  );
  return state;
}

function pool(port: number, overrides: Partial<StoragePoolOptions> = {}): StoragePool {
  const p = new StoragePool({
    protocol: 'http:',
    hostname: '127.0.0.1',
    port,
    maxSockets: 4,
    maxFreeSockets: 4,
    freeSocketTimeoutMs: 5000,
    connectTimeoutMs: 1000,
    ...overrides,
  });
  closers.push(() => p.destroy());
  return p;
}

const never = new AbortController().signal;

function get(
  p: StoragePool,
  path = '/b/k',
  options: { signal?: AbortSignal; headTimeoutMs?: number; idleTimeoutMs?: number } = {},
) {
  return p.request({
    method: 'GET',
    path,
    headers: { host: 'storage' },
    signal: options.signal ?? never,
    headTimeoutMs: options.headTimeoutMs ?? 2000,
    idleTimeoutMs: options.idleTimeoutMs ?? 2000,
  });
}

async function text(answer: StorageAnswer): Promise<string> {
  let out = '';
  for await (const chunk of answer.body) out += (chunk as Buffer).toString('latin1');
  return out;
}

/** Bytes 0..n-1 of a pattern in which every 4-byte word holds its own offset. */
function pattern(n: number): Buffer {
  const buf = Buffer.alloc(Math.ceil(n / 4) * 4);
  for (let i = 0; i < buf.length; i += 4) buf.writeUInt32BE(i, i);
  return buf.subarray(0, n);
}

async function waitFor(check: () => boolean, ms = 3000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until && !check()) await new Promise((r) => setTimeout(r, 20));
  return check();
}

describe('storage HTTP client', () => {
  it('reads a head that arrives a byte at a time, skipping a 100 Continue', async () => {
    const answer =
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: "e"\r\n\r\nhello';
    const server = await rawServer(async (socket) => {
      for (const byte of Buffer.from(answer)) {
        socket.write(Buffer.of(byte));
        await new Promise((r) => setImmediate(r));
      }
    });
    const out = await get(pool(server.port));
    expect([out.status, out.headers.etag]).toEqual([200, '"e"']);
    expect(await text(out)).toBe('hello');
  });

  it('sends exactly the given headers, and reuses one connection for answers in a row', async () => {
    const server = await rawServer((socket) =>
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
    );
    const p = pool(server.port);
    for (let i = 0; i < 3; i++) expect(await text(await get(p))).toBe('ok');
    expect(server.heads[0]).toBe('GET /b/k HTTP/1.1\r\nhost: storage');
    expect(server.connections.length).toBe(1);
    expect(p.stats()).toEqual({ busy: 0, idle: 1, queued: 0 });
  });

  it('decodes a chunked body split anywhere, with extensions and trailers', async () => {
    const wire =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '5;name=value\r\nhello\r\n1\r\n \r\n6\r\nworld!\r\n0\r\nx-trailer: 1\r\n\r\n';
    const server = await rawServer(async (socket, _head, index) => {
      // Split at a different place each time, down to one byte per write.
      const step = index + 1;
      for (let i = 0; i < wire.length; i += step) {
        socket.write(wire.slice(i, i + step));
        await new Promise((r) => setImmediate(r));
      }
    });
    const p = pool(server.port);
    for (let i = 0; i < 4; i++) expect(await text(await get(p))).toBe('hello world!');
    expect(server.connections.length).toBe(1); // the terminating chunk ends the answer: kept alive
  });

  it('refuses chunk lines and trailers past their limits', async () => {
    const answers = [
      `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;${'x'.repeat(2000)}\r\na\r\n0\r\n\r\n`,
      `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n${'x-t: 1\r\n'.repeat(4000)}\r\n`,
    ];
    const server = await rawServer((socket, _head, index) => socket.write(answers[index] ?? ''));
    const p = pool(server.port);
    for (let i = 0; i < answers.length; i++) {
      const out = await get(p);
      const error = await text(out).catch((e: unknown) => e);
      expect([error instanceof StorageRequestError, (error as StorageRequestError).code]).toEqual([
        true,
        'EPROTO',
      ]);
    }
  });

  it('reads a body without framing until the connection closes, and does not reuse it', async () => {
    const server = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\n\r\nuntil ');
      setTimeout(() => socket.end('close'), 20);
    });
    const p = pool(server.port);
    expect(await text(await get(p))).toBe('until close');
    expect(await text(await get(p))).toBe('until close');
    expect(server.connections.length).toBe(2);
  });

  it('fails, never ends early, a body read until close when the pool shuts down under it', async () => {
    const server = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\n\r\npartial'));
    const p = pool(server.port);
    const out = await get(p);
    const outcome = new Promise<string>((resolve) => {
      out.body.on('data', () => {});
      out.body.once('end', () => resolve('end'));
      out.body.once('error', (error) => resolve((error as StorageRequestError).code ?? 'error'));
    });
    await new Promise((r) => setTimeout(r, 20));
    p.destroy();
    expect(await outcome).toBe('ECLOSED');
  });

  it('closes a connection after "Connection: close", HTTP/1.0, bytes beyond the answer, or two framings', async () => {
    const answers = [
      'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na',
      'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nb',
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\ncEXTRA',
      // Both framings (a smuggling shape): refused, as llhttp refuses it, and the connection is dropped.
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n1\r\nd\r\n0\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\ne',
    ];
    const server = await rawServer((socket, _head, index) => socket.write(answers[index] ?? ''));
    const p = pool(server.port);
    const bodies = [];
    for (let i = 0; i < 5; i++) {
      bodies.push(
        await get(p)
          .then(text)
          .catch((e: StorageRequestError) => e.code),
      );
    }
    expect(bodies).toEqual(['a', 'b', 'c', 'EPROTO', 'e']);
    expect(server.connections.length).toBe(5);
  });

  it('stores header names where none can reach a prototype', async () => {
    const server = await rawServer((socket) =>
      socket.write(
        'HTTP/1.1 200 OK\r\n__proto__: x\r\nconstructor: y\r\nhasOwnProperty: z\r\nContent-Length: 2\r\n\r\nok',
      ),
    );
    const out = await get(pool(server.port));
    expect(Object.getPrototypeOf(out.headers)).toBe(null);
    // On a plain object `__proto__` would be dropped and `constructor` joined to Object's own function.
    expect(Object.entries(out.headers)).toEqual([
      ['__proto__', 'x'],
      ['constructor', 'y'],
      ['hasownproperty', 'z'],
      ['content-length', '2'],
    ]);
    expect(await text(out)).toBe('ok');
  });

  it('sends a request again on a new connection when storage closed the idle one it was sent on', async () => {
    // Storage closes each connection right after a request on it has started to arrive, as a server whose
    // keep-alive timeout ran out does: the second request meets a connection that dies without answering.
    const server = await rawServer((socket, _head, index) => {
      if (index === 1) socket.destroy();
      else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const p = pool(server.port);
    expect(await text(await get(p))).toBe('ok');
    expect(await text(await get(p))).toBe('ok');
    expect(server.heads.length).toBe(3);
    expect(server.connections.length).toBe(2);
  });

  it('does not send a request twice when the connection dies after part of an answer', async () => {
    const server = await rawServer((socket, _head, index) => {
      if (index === 0) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      else {
        socket.write('HTTP/1.1 20');
        setTimeout(() => socket.destroy(), 20);
      }
    });
    const p = pool(server.port);
    await text(await get(p));
    const error = await get(p).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageRequestError);
    expect(server.heads.length).toBe(2);
  });

  it('fails a malformed answer as a request error and closes that connection', async () => {
    const server = await rawServer((socket) => socket.write('SPDY/9 200 OK\r\n\r\n'));
    const p = pool(server.port);
    const error = (await get(p).catch((e: unknown) => e)) as StorageRequestError;
    expect([error instanceof StorageRequestError, error.code]).toEqual([true, 'EPROTO']);
    expect(await waitFor(() => p.stats().busy === 0 && p.stats().idle === 0)).toBe(true);
  });

  it('keeps to maxSockets: the rest wait in line, and one that waits too long gives up in time', async () => {
    let open = 0;
    let mostOpen = 0;
    const server = await rawServer((socket) => {
      open += 1;
      mostOpen = Math.max(mostOpen, open);
      setTimeout(() => {
        open -= 1;
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      }, 30);
    });
    const p = pool(server.port, { maxSockets: 2 });
    const bodies = await Promise.all(Array.from({ length: 6 }, async () => text(await get(p))));
    expect(bodies).toEqual(Array(6).fill('ok'));
    expect(mostOpen).toBe(2);
    expect(server.connections.length).toBe(2);

    // Two requests that hold both connections (storage never answers them), and a third that waits.
    const silent = await rawServer(() => {});
    const q = pool(silent.port, { maxSockets: 2 });
    const held = [get(q, '/b/1', { headTimeoutMs: 5000 }), get(q, '/b/2', { headTimeoutMs: 5000 })];
    for (const h of held) h.catch(() => {});
    const started = Date.now();
    const waiting = await get(q, '/b/3', { headTimeoutMs: 200 }).catch((e: unknown) => e);
    expect(waiting).toBeInstanceOf(StorageRequestError);
    expect(Date.now() - started).toBeLessThan(600);
    expect(q.stats()).toEqual({ busy: 2, idle: 0, queued: 0 });
  });

  it('never reads into a buffer that a slow writer still holds, and keeps a bounded number in flight', async () => {
    const SIZE = 8 * 1024 * 1024;
    const body = pattern(SIZE);
    const server = await rawServer((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${SIZE}\r\n\r\n`);
      socket.end(body);
    });
    const out = await get(pool(server.port));
    // A writer that keeps each chunk for a while and checks it only then: a buffer read into again too early
    // would have changed under it.
    let received = 0;
    let corrupt = 0;
    let mostQueued = 0;
    const slow = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        mostQueued = Math.max(mostQueued, slow.writableLength);
        const at = received;
        received += chunk.length;
        setTimeout(() => {
          if (!chunk.equals(body.subarray(at, at + chunk.length))) corrupt += 1;
          callback();
        }, 1);
      },
    });
    await new Promise<void>((resolve, reject) => {
      slow.on('finish', resolve);
      slow.on('error', reject);
      out.body.pipe(slow);
    });
    expect(received).toBe(SIZE);
    expect(corrupt).toBe(0);
    // Backpressure by buffer count: at most the connection's four buffers (256 KiB at most) wait in the
    // writer, not the 8 MiB that storage sent at once.
    expect(mostQueued).toBeLessThanOrEqual(4 * 256 * 1024);
  });

  it('streams many bodies at once, and every large read buffer comes back when they end', async () => {
    const SIZE = 2 * 1024 * 1024;
    const body = pattern(SIZE);
    const server = await rawServer((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${SIZE}\r\n\r\n`);
      socket.write(body);
    });
    const p = pool(server.port, { maxSockets: 16 });
    const slowCopy = async (answer: StorageAnswer) => {
      const chunks: Buffer[] = [];
      await new Promise<void>((resolve, reject) => {
        const sink = new Writable({
          write(chunk: Buffer, _encoding, callback) {
            chunks.push(Buffer.from(chunk));
            setTimeout(callback, 1);
          },
        });
        sink.on('finish', resolve);
        sink.on('error', reject);
        answer.body.pipe(sink);
      });
      return Buffer.concat(chunks);
    };
    const bodies = await Promise.all(Array.from({ length: 16 }, async () => slowCopy(await get(p))));
    expect(bodies.every((b) => b.equals(body))).toBe(true);
    // 16 streams × 4 buffers: the first few streams read into large buffers, the rest into small ones.
    expect(spareBufferCounts().largeAllocated).toBeLessThanOrEqual(32);
    p.destroy();
    const counts = () => spareBufferCounts();
    expect(await waitFor(() => counts().large === counts().largeAllocated)).toBe(true);
  });

  it('gives only the window asked for, and drops a connection whose answer was not read to its end', async () => {
    const server = await rawServer((socket, _head, index) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 26\r\n\r\nabcdefghij');
      if (index === 0)
        socket.write('klmnopqrstuvwxyz'); // all of it at once
      else setTimeout(() => socket.write('klmnopqrstuvwxyz'), 100); // the rest comes later
    });
    const p = pool(server.port);
    const whole = await get(p);
    whole.body.window(3, 4);
    expect(await text(whole)).toBe('defg');
    expect(await waitFor(() => p.stats().idle === 1)).toBe(true); // read to its end: kept
    const part = await get(p);
    part.body.window(3, 4);
    expect(await text(part)).toBe('defg');
    expect(await waitFor(() => p.stats().busy === 0)).toBe(true);
    expect(p.stats().idle).toBe(0); // the rest was never read: closed, not reused
    expect(server.connections.length).toBe(1);
    expect(await waitFor(() => server.connections[0]?.destroyed === true)).toBe(true);
  });

  it('stops the read and frees the connection when the caller aborts while the body streams', async () => {
    const server = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n');
      socket.write(Buffer.alloc(100_000));
    });
    const p = pool(server.port);
    const controller = new AbortController();
    const out = await get(p, '/b/k', { signal: controller.signal });
    const closed = new Promise((r) => out.body.once('close', r));
    out.body.on('error', () => {});
    out.body.resume();
    controller.abort();
    await closed;
    expect(out.body.destroyed).toBe(true);
    expect(p.stats()).toEqual({ busy: 0, idle: 0, queued: 0 });
    expect(await waitFor(() => server.connections[0]?.destroyed === true)).toBe(true);
  });

  it('refuses what llhttp refuses: bare LF, bad lengths, bad names and values, bad chunk lines, bad status lines', async () => {
    // A few named cases of what test/storage-http-fuzz.test.ts checks against node:http in bulk.
    const refused = [
      'HTTP/1.1 200 OK\nContent-Length: 2\n\nok',
      'HTTP/1.1 200 OK\r\nContent-Length: 2\n\r\nok',
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\r\n\r\nok',
      'HTTP/1.1 200 OK\r\nContent-Length: 9007199254740992\r\n\r\nok',
      'HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nok',
      'HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok',
      'HTTP/1.1 200 OK\r\nContent-Length: 2 2\r\n\r\nok',
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok',
      'HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok',
      'HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\nok',
      'HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok',
      'HTTP/1.1 200 OK\r\nX(y: 1\r\nContent-Length: 2\r\n\r\nok',
      'HTTP/1.1 200 OK\r\nX: a\x01b\r\nContent-Length: 2\r\n\r\nok',
      'HTTP/1.1 200 OK\r\nX: a\x7fb\r\nContent-Length: 2\r\n\r\nok',
      'HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 2\r\n\r\nok',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 \r\nok\r\n0\r\n\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2; a=b\r\nok\r\n0\r\n\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\n0\r\n\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+2\r\nok\r\n0\r\n\r\n',
      `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;a=${'b'.repeat(1100)}\r\nok\r\n0\r\n\r\n`,
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nContent-Length: 2\r\n\r\n',
      'HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\nok',
      'HTTP/1.1  200 OK\r\nContent-Length: 2\r\n\r\nok',
      'HTTP/1.1 200 O\rK\r\nContent-Length: 2\r\n\r\nok',
      'HTTP/1.1 101 Switching Protocols\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
      'HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok',
    ];
    const server = await rawServer((socket, _head, index) => socket.end(refused[index] ?? ''));
    const p = pool(server.port);
    const verdicts = [];
    for (const _ of refused)
      verdicts.push(
        await get(p)
          .then(text)
          .catch((e: StorageRequestError) => e.code),
      );
    expect(verdicts).toEqual(refused.map(() => 'EPROTO'));
  });

  it('keeps a body whose reader pauses longer than the idle timeout, copied or piped, and times out storage after', async () => {
    const SIZE = 16 * 1024 * 1024;
    const body = pattern(SIZE);
    // Storage sends all of it at once, then goes silent with the connection open.
    const server = await rawServer((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${SIZE + 1}\r\n\r\n`);
      socket.write(body);
    });
    const p = pool(server.port);
    const IDLE = 400; // not less: a loaded machine can stall the event loop for a few hundred ms
    const pause = () => new Promise((r) => setTimeout(r, 3 * IDLE));

    // Copied: a reader that stops pulling for three idle timeouts after its first chunk.
    const copied = await get(p, '/b/k', { idleTimeoutMs: IDLE });
    const chunks: Buffer[] = [];
    const copyError = await (async () => {
      for await (const chunk of copied.body) {
        if (chunks.length === 0) await pause();
        chunks.push(chunk as Buffer);
      }
    })().catch((e: StorageRequestError) => e.code);
    expect(Buffer.concat(chunks).equals(body)).toBe(true); // every byte storage sent, after the pause
    expect(copyError).toBe('ETIMEDOUT'); // …and then storage's own silence ends it

    // Piped: a writer that holds its first write's callback for three idle timeouts.
    const piped = await get(p, '/b/k', { idleTimeoutMs: IDLE });
    const written: Buffer[] = [];
    const pipeError = await new Promise<string | undefined>((resolve) => {
      const sink = new Writable({
        write(chunk: Buffer, _encoding, callback) {
          written.push(Buffer.from(chunk));
          if (written.length === 1) void pause().then(() => callback());
          else callback();
        },
      });
      piped.body.once('error', (e: StorageRequestError) => resolve(e.code));
      piped.body.pipe(sink);
    });
    expect(Buffer.concat(written).equals(body)).toBe(true);
    expect(pipeError).toBe('ETIMEDOUT');
  });

  it('refuses header values and paths that could split the request', async () => {
    const p = pool(1);
    const bad = [
      p.request({
        method: 'GET',
        path: '/b/k',
        headers: { 'if-none-match': '"a"\r\nx: y' },
        signal: never,
        headTimeoutMs: 100,
        idleTimeoutMs: 100,
      }),
      p.request({
        method: 'GET',
        path: '/b/k HTTP/1.1\r\nx: y',
        headers: {},
        signal: never,
        headTimeoutMs: 100,
        idleTimeoutMs: 100,
      }),
    ];
    for (const request of bad) expect(await request.catch((e: unknown) => e)).toBeInstanceOf(TypeError);
  });

  describe('over TLS', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-tls-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('verifies the server against the given CA and streams the body', async () => {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=storage.test',
          '-addext',
          'subjectAltName=DNS:storage.test',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore' },
      );
      const key = readFileSync(join(dir, 'key.pem'));
      const cert = readFileSync(join(dir, 'cert.pem'));
      const payload = pattern(300_000);
      const server = await rawServer(
        (socket) => {
          socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${payload.length}\r\n\r\n`);
          socket.write(payload);
        },
        (listener) => tls.createServer({ key, cert }, listener),
      );
      const p = pool(server.port, { protocol: 'https:', servername: 'storage.test', tls: { ca: cert } });
      const out = await get(p);
      const chunks: Buffer[] = [];
      for await (const chunk of out.body) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).equals(payload)).toBe(true);
      // A name the certificate does not carry is refused.
      const wrong = pool(server.port, { protocol: 'https:', servername: 'other.test', tls: { ca: cert } });
      expect(await get(wrong).catch((e: unknown) => e)).toBeInstanceOf(StorageRequestError);
    });
  });
});
