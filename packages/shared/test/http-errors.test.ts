import { Readable } from 'node:stream';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { sendContractError } from '../src/http-errors.js';
import { captureLogLines } from './support/log-capture.js';

describe('sendContractError', () => {
  it('answers a stream that fails before its first byte with the contract body, not a second error', async () => {
    // Fastify copies a stream reply's headers onto the raw response before piping; when the stream fails
    // before any byte (storage cut, client gone), its error path clears only its own copy, so the object
    // response's content type stayed and the JSON error body could not be serialized
    // (FST_ERR_REP_INVALID_PAYLOAD_TYPE, a second error line; seen in bench/metrics).
    const { lines, stream } = captureLogLines();
    const app = Fastify({ logger: { level: 'info', stream } });
    app.setErrorHandler(sendContractError);
    app.get('/object', (_request, reply) => {
      const body = new Readable({ read() {} });
      setImmediate(() => body.destroy());
      return reply
        .code(206)
        .header('content-type', 'audio/wav')
        .header('content-length', '65536')
        .header('content-range', 'bytes 0-65535/1048576')
        .header('etag', '"abc"')
        .send(body);
    });
    const res = await app.inject({ method: 'GET', url: '/object' });
    await app.close();
    expect(res.statusCode).toBe(500);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.json()).toEqual({ error: 'internal_error', message: 'something went wrong on our side' });
    // Nothing of the object's representation is left on the error answer.
    expect(res.headers['content-range']).toBeUndefined();
    expect(res.headers.etag).toBeUndefined();
    expect(res.headers['cache-control']).toBe('no-store');
    const errors = lines.filter((l) => Number(l.level) >= 50);
    expect(errors.map((l) => l.msg)).toEqual(['request failed']);
  });
});
