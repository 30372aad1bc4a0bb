import { describe, expect, it } from 'vitest';
import { redactUrl, serializeError } from '../src/redact.js';

const JWT = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJlLXBhcnQtaGVyZQ';

describe('redactUrl (the apps log only what it returns; the corpus over real sockets is in each app)', () => {
  it.each([
    ['/v1/objects/a.wav?token=abc.def.ghi&x=1', '/v1/objects/a.wav?[REDACTED]'],
    ['/v1/objects/a.wav?%74oken=x', '/v1/objects/a.wav?[REDACTED]'],
    ['/v1/objects/a.wav#token=x', '/v1/objects/a.wav?[REDACTED]'],
    ['/v1/objects/catalog/a.wav', '/v1/objects/catalog/a.wav'],
    ['/v1/objects/catalog/my%20song.wav', '/v1/objects/catalog/my song.wav'],
    ['/v1/t/abc.def.ghi/catalog/a.wav', '/v1/t/[REDACTED]/catalog/a.wav'],
    ['/v1//t//abc/catalog/a.wav', '/v1//t//[REDACTED]/catalog/a.wav'],
    ['/V1/T/abc/catalog/a.wav', '/V1/T/[REDACTED]/catalog/a.wav'],
    ['/v1/%74/abc/a.wav', '/v1/t/[REDACTED]/a.wav'],
    ['/v1/%2574/abc/a.wav', '/v1/t/[REDACTED]/a.wav'],
    ['/v1/t%2Fabc/a.wav', '/v1/t/[REDACTED]/a.wav'],
    ['/v1/t;x=1/abc/a.wav', '/v1/t;x=1/[REDACTED]/a.wav'],
    ['/v1\\t\\abc\\a.wav', '/v1\\t\\[REDACTED]\\a.wav'],
    [`/anywhere/x${JWT}y/a.wav`, '/anywhere/[REDACTED]/a.wav'],
    [`/v1/objects/${JWT.replaceAll('.', '%2E')}`, '/v1/objects/[REDACTED]'],
    [`http://user:${JWT}@host/v1/t/${JWT}/a.wav`, '/v1/t/[REDACTED]/a.wav'],
    ['/bad/%zz/escape', '/bad/%zz/escape'],
  ])('%s → %s', (url, logged) => {
    expect(redactUrl(url)).toBe(logged);
  });
});

describe('serializeError', () => {
  it('drops the raw request bytes and replaces JWT-shaped text, keeping code and cause', () => {
    const error = Object.assign(new Error(`bad token ${JWT}`), {
      code: 'HPE_INVALID_HEADER_TOKEN',
      rawPacket: Buffer.from(`Authorization: Bearer ${JWT}`),
    });
    error.cause = new Error(`inner ${JWT}`);
    const out = serializeError(error);
    expect(out.code).toBe('HPE_INVALID_HEADER_TOKEN');
    expect(out.rawPacket).toBeUndefined();
    expect(JSON.stringify(out)).not.toContain('c2lnbmF0dXJl');
    expect((out.cause as { message: string }).message).toBe('inner [REDACTED]');
  });
});
