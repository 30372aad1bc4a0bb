import { Writable } from 'node:stream';
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
