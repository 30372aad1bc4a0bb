import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patternBytes, useMedia } from './support.js';

const MiB = 1024 * 1024;
const h = useMedia({ env: { UPLOAD_PART_BYTES: String(5 * MiB), MAX_UPLOAD_BYTES: String(13 * MiB) } });
let port = 0;
let writer = '';

beforeAll(async () => {
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  port = (h.app.server.address() as AddressInfo).port;
  writer = await h.serviceToken('media:write media:read');
});
afterAll(async () => {
  await h.app.close();
});

interface PutOptions {
  body: Buffer;
  contentType?: string;
  /** Send Content-Length (default) or a chunked body. */
  chunked?: boolean;
  /** Declare this length instead of the real one. */
  declaredLength?: number;
  /** Walk away after this many bytes. */
  abortAfter?: number;
}

/** A PUT over a real socket, body written in 256 KiB chunks with backpressure. */
function put(key: string, options: PutOptions): Promise<{ status: number; body: string } | 'aborted'> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${writer}` };
    if (options.contentType) headers['content-type'] = options.contentType;
    if (!options.chunked) headers['content-length'] = String(options.declaredLength ?? options.body.length);
    const req = http.request({
      host: '127.0.0.1',
      port,
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

async function settle(ms = 800) {
  await new Promise((r) => setTimeout(r, ms));
}

async function expectNoOpenMultipartUploads() {
  for (let i = 0; i < 30; i++) {
    const open = await h.s3.openMultipartUploads();
    if (open === null || open.length === 0) return; // null: this store cannot list them (s3rver)
    await settle(200);
  }
  expect(await h.s3.openMultipartUploads()).toEqual([]);
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

  it('stops a chunked body at the limit with 413, leaving nothing visible and no open multipart upload', async () => {
    const res = await put('catalog/too-big-chunked.bin', { body: patternBytes(14 * MiB), chunked: true });
    expect(res !== 'aborted' && res.status).toBe(413);
    await settle();
    expect(await stored('catalog/too-big-chunked.bin')).toBeNull();
    await expectNoOpenMultipartUploads();
  });

  it('leaves nothing (and the previous version intact) when the client goes away mid-upload', async () => {
    await h.putObject('catalog/keep.bin', 'previous version');
    for (const [key, bytes] of [
      ['catalog/half.bin', 7 * MiB],
      ['catalog/keep.bin', 11 * MiB],
      ['catalog/tiny-half.bin', 100 * 1024],
    ] as const) {
      const res = await put(key, { body: patternBytes(12 * MiB), abortAfter: bytes });
      expect(res).toBe('aborted');
    }
    await settle(1500);
    expect(await stored('catalog/half.bin')).toBeNull();
    expect(await stored('catalog/tiny-half.bin')).toBeNull();
    expect((await stored('catalog/keep.bin'))?.toString()).toBe('previous version');
    await expectNoOpenMultipartUploads();
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
