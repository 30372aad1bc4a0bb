import { createHash } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import { Writable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, loggerOptions } from '../src/app.js';
import { loadMediaConfig } from '../src/config.js';
import { patternBytes, useMedia } from './support.js';

/** One request media sent to storage, as the recording proxy saw it. */
interface StorageCall {
  method: string;
  path: string;
  status?: number;
  /** For CreateMultipartUpload: the id storage gave the upload. */
  uploadId?: string;
}

const CREATE_MULTIPART = /[?&]uploads(?:[=&]|$)/;

/**
 * An HTTP proxy between media and the test's S3 (any store: s3rver or RGW) that records every request and
 * its status, so a test can check what media did to storage even where the store cannot list multipart
 * uploads (s3rver answers ListMultipartUploads with 501).
 */
async function startRecordingProxy(target: () => string) {
  const calls: StorageCall[] = [];
  const server = http.createServer((req, res) => {
    const call: StorageCall = { method: req.method ?? '', path: req.url ?? '' };
    calls.push(call);
    const url = new URL(target());
    // The proxy already said 100 Continue to media; storage gets the body without waiting.
    const { expect: _expect, ...headers } = req.headers;
    const upstream = http.request(
      { host: url.hostname, port: url.port, method: req.method, path: req.url, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        if (call.method === 'POST' && CREATE_MULTIPART.test(call.path)) {
          let xml = '';
          answer.on('data', (chunk: Buffer) => {
            xml += chunk.toString();
          });
          answer.on('end', () => {
            call.uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(xml)?.[1];
          });
        }
        answer.on('end', () => {
          call.status = answer.statusCode;
        });
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    calls,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** Media's log lines, with an event per line so a test can wait for one instead of for the clock. */
const logged = new EventEmitter<{ line: [{ msg?: string }] }>();
const logLines: { msg?: string }[] = [];
const logSink = new Writable({
  write(chunk, _encoding, callback) {
    const line = JSON.parse(String(chunk)) as { msg?: string };
    logLines.push(line);
    logged.emit('line', line);
    callback();
  },
});

const MiB = 1024 * 1024;
let h: ReturnType<typeof useMedia>;
const storage = await startRecordingProxy(() => h.s3.endpoint);
h = useMedia({
  env: {
    UPLOAD_PART_BYTES: String(5 * MiB),
    MAX_UPLOAD_BYTES: String(13 * MiB),
    S3_ENDPOINT: storage.url,
  },
  loggerInstance: pino({ ...(loggerOptions({ logLevel: 'info' }) as object) }, logSink),
});
let port = 0;
let writer = '';

beforeAll(async () => {
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  port = (h.app.server.address() as AddressInfo).port;
  writer = await h.serviceToken('media:write media:read');
});
afterAll(async () => {
  await h.app.close();
  storage.close();
});

/**
 * Waits until media has logged `count` lines with this message: for an abandoned upload, the point after
 * which media sends nothing more to storage for it (lib-storage's abort has been answered). Bounded, so a
 * missing line fails the test instead of hanging it.
 */
async function untilLogged(message: string, count: number): Promise<void> {
  const seen = () => logLines.filter((line) => line.msg === message).length;
  const deadline = AbortSignal.timeout(20_000);
  while (seen() < count) await once(logged, 'line', { signal: deadline });
}

interface PutOptions {
  body: Buffer;
  contentType?: string;
  /** Send Content-Length (default) or a chunked body. */
  chunked?: boolean;
  /** Declare this length instead of the real one. */
  declaredLength?: number;
  /** Walk away after this many bytes. */
  abortAfter?: number;
  /** Another media app's port (default: this file's app). */
  port?: number;
}

/** A PUT over a real socket, body written in 256 KiB chunks with backpressure. */
function put(key: string, options: PutOptions): Promise<{ status: number; body: string } | 'aborted'> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${writer}` };
    if (options.contentType) headers['content-type'] = options.contentType;
    if (!options.chunked) headers['content-length'] = String(options.declaredLength ?? options.body.length);
    const req = http.request({
      host: '127.0.0.1',
      port: options.port ?? port,
      method: 'PUT',
      path: `/v1/objects/${key}`,
      headers,
      agent: false,
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', (error) => {
      if (options.abortAfter !== undefined) resolve('aborted');
      else if (
        (error as NodeJS.ErrnoException).code === 'EPIPE' ||
        (error as NodeJS.ErrnoException).code === 'ECONNRESET'
      ) {
        // The server may refuse (413) and close before the whole body is written; its answer still counts.
      } else reject(error);
    });
    let offset = 0;
    const limit = options.abortAfter ?? options.body.length;
    const writeMore = () => {
      while (offset < limit) {
        const end = Math.min(offset + 256 * 1024, limit);
        const ok = req.write(options.body.subarray(offset, end));
        offset = end;
        if (!ok) {
          req.once('drain', writeMore);
          return;
        }
      }
      if (options.abortAfter !== undefined) {
        setTimeout(() => {
          req.destroy();
          resolve('aborted');
        }, 300);
      } else req.end();
    };
    writeMore();
  });
}

async function stored(key: string): Promise<Buffer | null> {
  try {
    const res = await h.s3.client.send(new GetObjectCommand({ Bucket: h.s3.bucket, Key: key }));
    return Buffer.from(await (res.Body?.transformToByteArray() ?? new Uint8Array()));
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey') return null;
    throw error;
  }
}

/**
 * Media sent an AbortMultipartUpload for every multipart upload it began for `key`, as the proxy saw it
 * (this holds on any store). Where the store implements the abort it must have answered 2xx; s3rver
 * answers it 405 (it cannot abort, nor list what it keeps), so there the abort being sent is what media
 * controls. Returns how many uploads there were, so a caller can show the check was not vacuous.
 */
function expectEveryMultipartUploadAborted(key: string): number {
  const objectPath = `/${h.s3.bucket}/${key}?`;
  const mine = storage.calls.filter((call) => call.path.startsWith(objectPath));
  const created = mine.filter((call) => call.method === 'POST' && CREATE_MULTIPART.test(call.path));
  for (const upload of created) {
    expect(upload.status).toBe(200);
    expect(upload.uploadId).toBeTruthy();
    const abort = mine.find(
      (call) =>
        call.method === 'DELETE' &&
        new URLSearchParams(call.path.slice(objectPath.length)).get('uploadId') === upload.uploadId,
    );
    const answered = h.s3.kind === 'embedded' ? 405 : 204;
    expect({ key, uploadId: upload.uploadId, abort: abort?.status }).toEqual({
      key,
      uploadId: upload.uploadId,
      abort: answered,
    });
  }
  return created.length;
}

describe('PUT /v1/objects/<key>', () => {
  it('stores a small body with its Content-Type and answers 201 {key,size,etag}', async () => {
    const res = await put('catalog/new%20song.mp3', {
      body: Buffer.from('hello'),
      contentType: 'audio/mpeg',
    });
    expect(res).not.toBe('aborted');
    if (res === 'aborted') return;
    expect(res.status).toBe(201);
    const body = JSON.parse(res.body);
    expect(body).toMatchObject({ key: 'catalog/new song.mp3', size: 5 });
    expect(body.etag).toMatch(/^"[^"]+"$/);
    const head = await h.s3.client.send(
      new HeadObjectCommand({ Bucket: h.s3.bucket, Key: 'catalog/new song.mp3' }),
    );
    expect(head.ContentType).toBe('audio/mpeg');
    const token = await h.mediaToken('catalog/new song.mp3');
    const get = await h.app.inject({ url: `/v1/objects/catalog/new%20song.mp3?token=${token}` });
    expect(get.payload).toBe('hello');
    expect(get.headers['content-type']).toBe('audio/mpeg');
    expect(get.headers.etag).toBe(body.etag);
  });

  it('derives the Content-Type from the extension when none is sent', async () => {
    const res = await h.app.inject({
      method: 'PUT',
      url: '/v1/objects/catalog/x.wav',
      headers: { authorization: `Bearer ${writer}` },
      payload: Buffer.from('RIFF'),
    });
    expect(res.statusCode).toBe(201);
    const head = await h.s3.client.send(new HeadObjectCommand({ Bucket: h.s3.bucket, Key: 'catalog/x.wav' }));
    expect(head.ContentType).toBe('audio/wav');
  });

  it('stores a JSON body as bytes, not parsed', async () => {
    const json = '{"a": 1,   "b": [1,2]}';
    const res = await h.app.inject({
      method: 'PUT',
      url: '/v1/objects/catalog/doc.json',
      headers: { authorization: `Bearer ${writer}`, 'content-type': 'application/json' },
      payload: json,
    });
    expect(res.statusCode).toBe(201);
    expect((await stored('catalog/doc.json'))?.toString()).toBe(json);
  });

  it('streams a 12 MiB body to storage in 5 MiB parts, with or without Content-Length', async () => {
    const body = patternBytes(12 * MiB);
    for (const chunked of [false, true]) {
      const key = `catalog/large-${chunked ? 'chunked' : 'sized'}.bin`;
      const res = await put(key, { body, chunked, contentType: 'application/octet-stream' });
      expect(res !== 'aborted' && res.status).toBe(201);
      if (res === 'aborted') return;
      expect(JSON.parse(res.body).size).toBe(12 * MiB);
      const back = await stored(key);
      expect(back?.length).toBe(12 * MiB);
      expect(
        createHash('sha256')
          .update(back ?? '')
          .digest('hex'),
      ).toBe(createHash('sha256').update(body).digest('hex'));
      if (h.s3.kind === 'external') expect(JSON.parse(res.body).etag).toMatch(/-3"$/); // 3 parts
    }
  });

  it('refuses a declared length over the limit with 413 before reading it', async () => {
    const res = await put('catalog/too-big.bin', {
      body: Buffer.alloc(1024),
      declaredLength: 14 * MiB,
      abortAfter: 1024,
    });
    // The answer comes before the body is sent; either way nothing may be stored.
    if (res !== 'aborted') expect(res.status).toBe(413);
    const direct = await h.app.inject({
      method: 'PUT',
      url: '/v1/objects/catalog/too-big.bin',
      headers: { authorization: `Bearer ${writer}`, 'content-length': String(14 * MiB) },
      payload: Buffer.alloc(0),
    });
    expect(direct.statusCode).toBe(413);
    expect(direct.json().error).toBe('payload_too_large');
    expect(await stored('catalog/too-big.bin')).toBeNull();
  });

  it('stops a chunked body at the limit with 413, leaving nothing visible and its multipart upload aborted', async () => {
    const res = await put('catalog/too-big-chunked.bin', { body: patternBytes(14 * MiB), chunked: true });
    // The 413 is sent after lib-storage's abort was answered: whatever media wrote, it has written.
    expect(res !== 'aborted' && res.status).toBe(413);
    expect(await stored('catalog/too-big-chunked.bin')).toBeNull();
    expect(expectEveryMultipartUploadAborted('catalog/too-big-chunked.bin')).toBe(1);
    if (h.s3.kind === 'external') expect(await h.s3.openMultipartUploads()).toEqual([]);
  });

  it('leaves nothing visible (the previous version intact) and every multipart upload aborted when the client goes away mid-upload', async () => {
    await h.putObject('catalog/keep.bin', 'previous version');
    for (const [key, bytes] of [
      ['catalog/half.bin', 7 * MiB],
      ['catalog/keep.bin', 11 * MiB],
      ['catalog/tiny-half.bin', 100 * 1024],
    ] as const) {
      const res = await put(key, { body: patternBytes(12 * MiB), abortAfter: bytes });
      expect(res).toBe('aborted');
    }
    // Media has given up on all three uploads (and awaited lib-storage's abort): nothing comes later.
    await untilLogged('upload abandoned: the client went away', 3);
    expect(await stored('catalog/half.bin')).toBeNull();
    expect(await stored('catalog/tiny-half.bin')).toBeNull();
    expect((await stored('catalog/keep.bin'))?.toString()).toBe('previous version');
    expect(expectEveryMultipartUploadAborted('catalog/half.bin')).toBe(1);
    expect(expectEveryMultipartUploadAborted('catalog/keep.bin')).toBe(1);
    expect(expectEveryMultipartUploadAborted('catalog/tiny-half.bin')).toBe(0); // under one part: no multipart
    if (h.s3.kind === 'external') expect(await h.s3.openMultipartUploads()).toEqual([]);
  });

  it('refuses a bad key with 400 invalid_key', async () => {
    const res = await h.app.inject({
      method: 'PUT',
      url: '/v1/objects/catalog/a%5Cb.wav',
      headers: { authorization: `Bearer ${writer}` },
      payload: 'x',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_key');
  });
});

/**
 * Storage stood in for by a raw TCP server that reads each request to the end of its body (Content-Length
 * or chunked) and then does what `answer` says: by then media has read the client's whole body too.
 */
function bodyReadingStorage(answer: (socket: net.Socket) => void): net.Server {
  return net.createServer((socket) => {
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const headEnd = buffered.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const head = buffered.subarray(0, headEnd).toString('latin1');
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const body = buffered.subarray(headEnd + 4);
      const complete = length ? body.length >= Number(length[1]) : body.includes('\r\n0\r\n\r\n');
      if (!complete) return;
      socket.removeAllListeners('data');
      answer(socket);
    });
    socket.on('error', () => {});
  });
}

describe('PUT /v1/objects/<key> when storage fails after the body was read', () => {
  const failures: [string, (socket: net.Socket) => void, number][] = [
    [
      'answers 500',
      (socket) => {
        const xml = '<?xml version="1.0"?><Error><Code>InternalError</Code><Message>boom</Message></Error>';
        socket.end(
          `HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/xml\r\ncontent-length: ${xml.length}\r\nconnection: close\r\n\r\n${xml}`,
        );
      },
      502,
    ],
    ['resets the connection', (socket) => socket.resetAndDestroy(), 503],
  ];
  for (const [what, answer, status] of failures) {
    for (const chunked of [false, true]) {
      it(`answers ${status} storage_unavailable JSON (not an empty 499) and logs why, when storage ${what} (${chunked ? 'chunked' : 'sized'} body)`, async () => {
        const storage = bodyReadingStorage(answer);
        await new Promise<void>((r) => storage.listen(0, '127.0.0.1', r));
        const lines: string[] = [];
        const sink = new Writable({
          write(chunk, _encoding, callback) {
            lines.push(String(chunk));
            callback();
          },
        });
        const app = await buildApp(
          loadMediaConfig({
            ...h.env,
            S3_ENDPOINT: `http://127.0.0.1:${(storage.address() as AddressInfo).port}`,
            S3_MAX_ATTEMPTS: '1',
          }),
          { loggerInstance: pino({ ...(loggerOptions({ logLevel: 'info' }) as object) }, sink) },
        );
        try {
          await app.listen({ host: '127.0.0.1', port: 0 });
          const res = await put('catalog/doomed.bin', {
            body: patternBytes(64 * 1024),
            chunked,
            port: (app.server.address() as AddressInfo).port,
          });
          expect(res).not.toBe('aborted');
          if (res === 'aborted') return;
          expect(res.status).toBe(status);
          expect(JSON.parse(res.body)).toMatchObject({ error: 'storage_unavailable' });
          const logged = lines.map((line) => JSON.parse(line) as { msg?: string; storage?: unknown });
          expect(logged.find((line) => line.msg?.startsWith('upload failed'))).toMatchObject({
            storage: status === 502 ? { status: 500 } : {},
          });
        } finally {
          await app.close();
          storage.close();
        }
      });
    }
  }
});
