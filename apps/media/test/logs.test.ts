import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { findTokenLeaks, sendTokenSpellings, TOKEN_SPELLINGS } from '@stagedoor/testkit/token-spellings';
import pino from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { loggerOptions } from '../src/app.js';
import { loadMediaConfig } from '../src/config.js';
import { createStorage } from '../src/plugins/storage.js';
import { useMedia } from './support.js';

const lines: string[] = [];
const sink = new Writable({
  write(chunk, _encoding, callback) {
    lines.push(String(chunk));
    callback();
  },
});
const logger = pino({ ...(loggerOptions({ logLevel: 'trace' }) as object), level: 'trace' }, sink);
const h = useMedia({
  loggerInstance: logger,
  env: { S3_SOCKET_TIMEOUT_MS: '1000' },
});

beforeAll(async () => {
  await h.putObject('catalog/a.wav', 'abc');
});

describe('logs', () => {
  it('never contain a token, whichever way it travelled and whatever went wrong', async () => {
    const token = await h.mediaToken('catalog/');
    const service = await h.serviceToken('media:read media:list');
    const signature = (t: string) => t.split('.')[2] ?? t;
    await h.app.inject({ url: `/v1/objects/catalog/a.wav?token=${token}` });
    await h.app.inject({ url: `/v1/objects/catalog/a.wav?x=1&token=${token}&y=2` });
    await h.app.inject({ url: `/v1/t/${token}/catalog/a.wav` });
    await h.app.inject({ url: `/v1/t/${token}/catalog/missing.wav` });
    await h.app.inject({ url: `/v1/t/${token}/catalog/%zz` });
    await h.app.inject({ url: `/v1/t/${token}/users/x.wav` });
    await h.app.inject({ url: '/v1/objects/catalog/a.wav', headers: { authorization: `Bearer ${token}` } });
    await h.app.inject({ url: '/v1/catalog', headers: { authorization: `Bearer ${service}` } });
    await h.app.inject({ url: `/v1/objects/catalog/a.wav?token=${token}x` });
    await h.app.inject({ url: `/nowhere?token=${token}` });
    await h.app.inject({ url: `/v1/t/${token}` });
    // A storage fault (5xx, logged with its error): the bucket is gone for this one app.
    const healthy = h.app.storage.store;
    const config = loadMediaConfig({ ...h.env, S3_BUCKET: 'no-such-bucket-here' });
    const broken = createStorage(config);
    h.app.storage.store = broken.store;
    const fault = await h.app.inject({ url: `/v1/objects/catalog/a.wav?token=${token}` });
    h.app.storage.store = healthy;
    broken.close();
    expect(fault.statusCode).toBe(502);
    expect(fault.json().error).toBe('storage_unavailable');

    const all = lines.join('');
    if (process.env.DEBUG_LOGS) console.log(all);
    expect(lines.length).toBeGreaterThan(10);
    expect(all).toContain('[REDACTED]');
    expect(all).toContain('/v1/t/[REDACTED]/catalog/a.wav');
    for (const secret of [token, service, signature(token), signature(service)])
      expect(all).not.toContain(secret);
    expect(all).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
  });
});

describe('logs, whatever the URL or header spelling (issue 11 §2)', () => {
  it('hold no piece of a real token sent in any spelling of the corpus, errors included', async () => {
    const token = await h.mediaToken('catalog/');
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = h.app.server.address() as AddressInfo;
    const before = lines.length;
    const statuses = await sendTokenSpellings(port, token);
    const captured = lines.slice(before);
    if (process.env.DEBUG_LOGS) console.log(statuses, captured.join(''));
    // The token is real and the capture works: the plain spellings authenticated and were logged.
    expect(statuses.get('query token=')).toBe(200);
    expect(statuses.get('query %74oken= (encoded name)')).toBe(200);
    expect(statuses.get('path carrier')).toBe(200);
    expect(statuses.get('Authorization: Bearer')).toBe(200);
    expect(statuses.get('Authorization space before colon (invalid)')).toBe(400);
    expect(statuses.size).toBe(TOKEN_SPELLINGS.length);
    const all = captured.join('');
    expect(all).toContain('"url":"/v1/t/[REDACTED]/catalog/a.wav"');
    expect(all).toContain('"statusCode":404');
    expect(all).toContain('client error'); // Node's parser refused a head: Fastify's clientError line
    expect(findTokenLeaks(captured, token)).toEqual([]);
  });
});
