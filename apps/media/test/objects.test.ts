import { describe, expect, it } from 'vitest';
import { ALLOWED_ORIGIN, patternBytes, useMedia } from './support.js';

/** Media's clock runs this far ahead of the test's (If-Modified-Since is judged by media's clock). */
let clockAheadMs = 0;
const h = useMedia({ now: () => Date.now() + clockAheadMs });
const SIZE = 10_000;
const data = patternBytes(SIZE);
const KEY = 'catalog/song one.wav';
const URL_PATH = '/v1/objects/catalog/song%20one.wav';

async function get(headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') {
  const token = await h.mediaToken(KEY);
  return h.app.inject({ method, url: URL_PATH, headers: { authorization: `Bearer ${token}`, ...headers } });
}

describe('GET /v1/objects/<key>', () => {
  it('streams the whole object with the contract headers', async () => {
    await h.putObject(KEY, data, 'audio/wav');
    const res = await get();
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.equals(data)).toBe(true);
    expect(res.headers['content-type']).toBe('audio/wav');
    expect(res.headers['content-length']).toBe(String(SIZE));
    expect(res.headers['accept-ranges']).toBe('bytes');
    expect(res.headers.etag).toMatch(/^"[^"]+"$/);
    expect(new Date(String(res.headers['last-modified'])).getTime()).toBeGreaterThan(0);
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    const maxAge = Number(/^private, max-age=(\d+)$/.exec(String(res.headers['cache-control']))?.[1]);
    expect(maxAge).toBeGreaterThan(290);
    expect(maxAge).toBeLessThanOrEqual(300);
  });

  it('lets audio and video play in a browser tab, and sandboxes every other type (CSP, nosniff)', async () => {
    const media = "default-src 'none'; media-src 'self'";
    const sandboxed = "default-src 'none'; sandbox";
    const cases: [string, string][] = [
      ['audio/wav', media],
      ['audio/mpeg', media],
      ['Video/MP4; codecs="avc1.42E01E"', media],
      ['video/webm', media],
      ['text/html', sandboxed],
      ['image/svg+xml', sandboxed],
      ['application/xhtml+xml', sandboxed],
      ['application/vnd.apple.mpegurl', sandboxed],
      ['audio', sandboxed],
      ['audio/', sandboxed],
      ['audio/x/../../text/html', sandboxed],
      ['text/html; x=audio/wav', sandboxed],
    ];
    for (const [contentType, policy] of cases) {
      const key = `catalog/csp-${encodeURIComponent(contentType)}`;
      await h.putObject(key, '<script>alert(1)</script>', contentType);
      const token = await h.mediaToken(key);
      for (const [method, range] of [
        ['GET', undefined],
        ['GET', 'bytes=0-3'],
        ['HEAD', undefined],
      ] as const) {
        const res = await h.app.inject({
          method,
          url: `/v1/objects/${encodeURIComponent(key).replace('%2F', '/')}`,
          headers: { authorization: `Bearer ${token}`, ...(range ? { range } : {}) },
        });
        expect(res.statusCode).toBe(range ? 206 : 200);
        expect({ contentType, method, range, csp: res.headers['content-security-policy'] }).toEqual({
          contentType,
          method,
          range,
          csp: policy,
        });
        expect(res.headers['x-content-type-options']).toBe('nosniff');
      }
    }
  });

  it('never lets a cached copy outlive the token', async () => {
    const token = await h.mediaToken(KEY, { ttlSeconds: 40 });
    const res = await h.app.inject({ url: `${URL_PATH}?token=${token}` });
    expect(res.statusCode).toBe(200);
    expect(Number(/max-age=(\d+)/.exec(String(res.headers['cache-control']))?.[1])).toBeLessThanOrEqual(40);
  });

  const ranges: [string, string, number, number][] = [
    ['first bytes', 'bytes=0-99', 0, 99],
    ['a middle range', 'bytes=1000-1999', 1000, 1999],
    ['a suffix', 'bytes=-500', SIZE - 500, SIZE - 1],
    ['a suffix longer than the object', 'bytes=-20000', 0, SIZE - 1],
    ['an open range', 'bytes=9000-', 9000, SIZE - 1],
    ['one byte', 'bytes=0-0', 0, 0],
    ['the last byte', 'bytes=9999-9999', 9999, 9999],
    ['an end past the object', 'bytes=9990-20000', 9990, SIZE - 1],
    ['another unit spelling', 'BYTES = 5-9', 5, 9],
  ];
  for (const [name, header, start, end] of ranges) {
    it(`answers ${name} (${header}) with 206 and the exact bytes`, async () => {
      const res = await get({ range: header });
      expect(res.statusCode).toBe(206);
      expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/${SIZE}`);
      expect(res.headers['content-length']).toBe(String(end - start + 1));
      expect(res.rawPayload.equals(data.subarray(start, end + 1))).toBe(true);
    });
  }

  for (const header of ['bytes=10000-', 'bytes=20000-20010', 'bytes=-0']) {
    it(`answers an unsatisfiable range (${header}) with 416 and the size`, async () => {
      const res = await get({ range: header });
      expect(res.statusCode).toBe(416);
      expect(res.headers['content-range']).toBe(`bytes */${SIZE}`);
      expect(res.json().error).toBe('range_not_satisfiable');
      expect(res.headers['cache-control']).toBe('no-store');
    });
  }

  for (const header of ['bytes=abc', 'items=0-10', 'bytes=5-1', 'bytes=--1', 'bytes=']) {
    it(`ignores a range header that does not parse (${header})`, async () => {
      const res = await get({ range: header });
      expect(res.statusCode).toBe(200);
      expect(res.rawPayload.length).toBe(SIZE);
    });
  }

  it('answers several ranges with the whole object', async () => {
    const res = await get({ range: 'bytes=0-1,5-6' });
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.equals(data)).toBe(true);
  });

  it('answers If-None-Match with 304 and no body', async () => {
    const { headers } = await get();
    const res = await get({ 'if-none-match': String(headers.etag) });
    expect(res.statusCode).toBe(304);
    expect(res.rawPayload.length).toBe(0);
    expect(res.headers.etag).toBe(headers.etag);
    expect(res.headers['cache-control']).toMatch(/^private, max-age=/);
    const weak = await get({ 'if-none-match': `"nope", W/${headers.etag}` });
    expect(weak.statusCode).toBe(304);
    const other = await get({ 'if-none-match': '"something-else"' });
    expect(other.statusCode).toBe(200);
  });

  it('answers If-Modified-Since with 304 unless the object changed later', async () => {
    const { headers } = await get();
    const res = await get({ 'if-modified-since': String(headers['last-modified']) });
    expect(res.statusCode).toBe(304);
    const old = await get({ 'if-modified-since': new Date(Date.now() - 86_400_000).toUTCString() });
    expect(old.statusCode).toBe(200);
  });

  it('applies If-Range with the current ETag or date, and sends the whole object otherwise', async () => {
    const { headers } = await get();
    const byEtag = await get({ range: 'bytes=0-9', 'if-range': String(headers.etag) });
    expect(byEtag.statusCode).toBe(206);
    expect(byEtag.rawPayload.equals(data.subarray(0, 10))).toBe(true);
    const byDate = await get({ range: 'bytes=0-9', 'if-range': String(headers['last-modified']) });
    expect(byDate.statusCode).toBe(206);
    const stale = await get({ range: 'bytes=0-9', 'if-range': '"an-old-etag"' });
    expect(stale.statusCode).toBe(200);
    expect(stale.rawPayload.equals(data)).toBe(true);
    const oldDate = await get({ range: 'bytes=-10', 'if-range': new Date(0).toUTCString() });
    expect(oldDate.statusCode).toBe(200);
    expect(oldDate.rawPayload.length).toBe(SIZE);
    const weak = await get({ range: 'bytes=0-9', 'if-range': `W/${headers.etag}` });
    expect(weak.statusCode).toBe(200);
    // A range past the end with a stale If-Range asks for the whole object, not a 416 (RFC 9110 §13.1.5).
    for (const range of ['bytes=99999-', 'bytes=-0']) {
      for (const method of ['GET', 'HEAD'] as const) {
        const whole = await get({ range, 'if-range': '"an-old-etag"' }, method);
        expect({ range, method, status: whole.statusCode }).toEqual({ range, method, status: 200 });
        expect(whole.headers['content-length']).toBe(String(SIZE));
      }
    }
  });

  it('answers If-Match that does not match (strong comparison) with 412, before ranges and If-None-Match', async () => {
    await h.putObject(KEY, data, 'audio/wav');
    const { headers } = await get();
    const etag = String(headers.etag);
    expect((await get({ 'if-match': etag })).statusCode).toBe(200);
    expect((await get({ 'if-match': `"other", ${etag}` })).statusCode).toBe(200);
    expect((await get({ 'if-match': '*' })).statusCode).toBe(200);
    const ranged = await get({ 'if-match': etag, range: 'bytes=0-9' });
    expect(ranged.statusCode).toBe(206);
    expect(ranged.rawPayload.equals(data.subarray(0, 10))).toBe(true);
    const failures: Record<string, string>[] = [
      { 'if-match': '"other"' },
      { 'if-match': `W/${etag}` },
      { 'if-match': '"other"', range: 'bytes=0-9' },
      { 'if-match': '"other"', range: 'bytes=-10' },
      { 'if-match': '"other"', range: 'bytes=99999-' },
      // s3rver would answer this If-None-Match with 304: media must not let storage judge it first.
      { 'if-match': '"other"', 'if-none-match': etag },
    ];
    for (const failing of failures) {
      for (const method of ['GET', 'HEAD'] as const) {
        const res = await get(failing, method);
        expect({ failing, method, status: res.statusCode }).toEqual({ failing, method, status: 412 });
        if (method === 'GET') {
          expect(res.json()).toMatchObject({ error: 'precondition_failed' });
          expect(res.headers['content-range']).toBeUndefined();
        }
      }
    }
  });

  it('answers If-Unmodified-Since earlier than Last-Modified with 412, and ignores it beside If-Match', async () => {
    await h.putObject(KEY, data, 'audio/wav');
    const { headers } = await get();
    const lastModified = new Date(String(headers['last-modified']));
    const before = new Date(lastModified.getTime() - 1000).toUTCString();
    expect((await get({ 'if-unmodified-since': lastModified.toUTCString() })).statusCode).toBe(200);
    for (const method of ['GET', 'HEAD'] as const) {
      expect((await get({ 'if-unmodified-since': before }, method)).statusCode).toBe(412);
      expect((await get({ 'if-unmodified-since': before, range: 'bytes=0-1' }, method)).statusCode).toBe(412);
      const beside = await get({ 'if-unmodified-since': before, 'if-match': String(headers.etag) }, method);
      expect(beside.statusCode).toBe(200);
    }
    const failed = await get({ 'if-unmodified-since': before, 'if-none-match': String(headers.etag) });
    expect(failed.statusCode).toBe(412);
    expect(failed.json().error).toBe('precondition_failed');
  });

  it("ignores an If-Modified-Since later than media's clock, and honours it once the clock has passed it", async () => {
    await h.putObject(KEY, data, 'audio/wav');
    const { headers } = await get();
    const lastModified = new Date(String(headers['last-modified']));
    // A minute ahead, then media's clock two minutes ahead (within the tokens' 300 s, which read it too).
    const inAMinute = new Date(lastModified.getTime() + 60_000).toUTCString();
    try {
      for (const method of ['GET', 'HEAD'] as const) {
        clockAheadMs = 0;
        const early = await get({ 'if-modified-since': inAMinute }, method);
        expect(early.statusCode).toBe(200);
        clockAheadMs = 120_000;
        expect((await get({ 'if-modified-since': inAMinute }, method)).statusCode).toBe(304);
      }
    } finally {
      clockAheadMs = 0;
    }
  });

  it('answers HEAD like GET without a body, ranges and conditionals included', async () => {
    const { headers } = await get();
    const head = await get({}, 'HEAD');
    expect(head.statusCode).toBe(200);
    expect(head.rawPayload.length).toBe(0);
    expect(head.headers['content-length']).toBe(String(SIZE));
    expect(head.headers.etag).toBe(headers.etag);
    expect(head.headers['content-type']).toBe('audio/wav');
    const ranged = await get({ range: 'bytes=-100' }, 'HEAD');
    expect(ranged.statusCode).toBe(206);
    expect(ranged.headers['content-range']).toBe(`bytes ${SIZE - 100}-${SIZE - 1}/${SIZE}`);
    expect(ranged.headers['content-length']).toBe('100');
    expect((await get({ range: 'bytes=99999-' }, 'HEAD')).statusCode).toBe(416);
    expect((await get({ 'if-none-match': String(headers.etag) }, 'HEAD')).statusCode).toBe(304);
    expect((await get({ range: 'bytes=0-1', 'if-range': '"old"' }, 'HEAD')).statusCode).toBe(200);
  });

  it('gives a suffix range the new size when the object was replaced (no stale size from the cache)', async () => {
    const key = 'catalog/changing.wav';
    const token = await h.mediaToken(key);
    const ask = () =>
      h.app.inject({
        url: `/v1/objects/${key}`,
        headers: { authorization: `Bearer ${token}`, range: 'bytes=-4' },
      });
    await h.putObject(key, 'aaaaaaaaaaaaaaaa1234');
    const first = await ask();
    expect(first.statusCode).toBe(206);
    expect(first.payload).toBe('1234');
    expect(first.headers['content-range']).toBe('bytes 16-19/20');
    await h.putObject(key, 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbWXYZ');
    const second = await ask();
    expect(second.statusCode).toBe(206);
    expect(second.payload).toBe('WXYZ');
    expect(second.headers['content-range']).toBe('bytes 40-43/44');
    await h.putObject(key, 'c9');
    const third = await ask();
    expect(third.payload).toBe('c9');
    expect(third.headers['content-range']).toBe('bytes 0-1/2');
  });

  it('answers any range on an empty object with 416', async () => {
    await h.putObject('catalog/empty.wav', '');
    const token = await h.mediaToken('catalog/empty.wav');
    const res = await h.app.inject({
      url: '/v1/objects/catalog/empty.wav',
      headers: { authorization: `Bearer ${token}`, range: 'bytes=0-' },
    });
    expect(res.statusCode).toBe(416);
    expect(res.headers['content-range']).toBe('bytes */0');
    const whole = await h.app.inject({
      url: '/v1/objects/catalog/empty.wav',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(whole.statusCode).toBe(200);
    expect(whole.headers['content-length']).toBe('0');
  });
});

describe('token carriers', () => {
  it('accepts the media token as ?token=, as Bearer, and as a path segment', async () => {
    await h.putObject(KEY, data);
    const token = await h.mediaToken('catalog/');
    const query = await h.app.inject({ url: `${URL_PATH}?token=${token}` });
    const bearer = await h.app.inject({ url: URL_PATH, headers: { authorization: `Bearer ${token}` } });
    const path = await h.app.inject({
      url: `/v1/t/${token}/catalog/song%20one.wav`,
      headers: { range: 'bytes=1-2' },
    });
    expect(query.statusCode).toBe(200);
    expect(bearer.statusCode).toBe(200);
    expect(path.statusCode).toBe(206);
    expect(path.rawPayload.equals(data.subarray(1, 3))).toBe(true);
    const head = await h.app.inject({ method: 'HEAD', url: `/v1/t/${token}/catalog/song%20one.wav` });
    expect(head.statusCode).toBe(200);
  });

  it('lets a prefix token reach relative URLs under it, and nothing outside it', async () => {
    await h.putObject('catalog/album/track.wav', 'track');
    await h.putObject('catalogue/other.wav', 'other');
    const token = await h.mediaToken('catalog/album/');
    expect((await h.app.inject({ url: `/v1/t/${token}/catalog/album/track.wav` })).statusCode).toBe(200);
    expect((await h.app.inject({ url: `/v1/t/${token}/catalogue/other.wav` })).statusCode).toBe(403);
    expect((await h.app.inject({ url: `/v1/t/${token}/catalog/song%20one.wav` })).statusCode).toBe(403);
  });

  it('lets a service token with media:read GET any object, and not without the scope', async () => {
    await h.putObject('users/u9/private.wav', 'private');
    const reader = await h.serviceToken('media:read');
    const ok = await h.app.inject({
      url: '/v1/objects/users/u9/private.wav',
      headers: { authorization: `Bearer ${reader}` },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.payload).toBe('private');
    const lister = await h.serviceToken('media:list media:write');
    const no = await h.app.inject({
      url: '/v1/objects/users/u9/private.wav',
      headers: { authorization: `Bearer ${lister}` },
    });
    expect(no.statusCode).toBe(403);
    expect(no.json().error).toBe('forbidden');
  });
});

describe('CORS', () => {
  it('lets allowed origins read the range headers, on success and on errors', async () => {
    const token = await h.mediaToken(KEY);
    const ok = await h.app.inject({
      url: `${URL_PATH}?token=${token}`,
      headers: { origin: ALLOWED_ORIGIN, range: 'bytes=0-1' },
    });
    expect(ok.headers['access-control-allow-origin']).toBe(ALLOWED_ORIGIN);
    const exposed = String(ok.headers['access-control-expose-headers']).toLowerCase();
    for (const name of ['content-range', 'content-length', 'accept-ranges', 'etag'])
      expect(exposed).toContain(name);
    const refused = await h.app.inject({ url: URL_PATH, headers: { origin: ALLOWED_ORIGIN } });
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['access-control-allow-origin']).toBe(ALLOWED_ORIGIN);
    expect(refused.headers['referrer-policy']).toBe('no-referrer');
    const stranger = await h.app.inject({
      url: `${URL_PATH}?token=${token}`,
      headers: { origin: 'http://evil.example' },
    });
    expect(stranger.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('sends CORS headers on a URL that is not valid percent-encoding too (answered before routing)', async () => {
    const url = '/v1/objects/catalog/a%zzb.wav?token=x.y.z';
    const res = await h.app.inject({ url, headers: { origin: ALLOWED_ORIGIN } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_key');
    expect(res.headers['access-control-allow-origin']).toBe(ALLOWED_ORIGIN);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    const stranger = await h.app.inject({ url, headers: { origin: 'http://evil.example' } });
    expect(stranger.statusCode).toBe(400);
    expect(stranger.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('answers a preflight for Range and Authorization from an allowed origin', async () => {
    const res = await h.app.inject({
      method: 'OPTIONS',
      url: URL_PATH,
      headers: {
        origin: ALLOWED_ORIGIN,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'range, authorization',
      },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(ALLOWED_ORIGIN);
    expect(String(res.headers['access-control-allow-headers']).toLowerCase()).toContain('range');
  });
});
