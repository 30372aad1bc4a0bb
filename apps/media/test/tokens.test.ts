import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MEDIA_AUDIENCE } from '@stagedoor/shared/tokens';
import { mintMediaToken } from '@stagedoor/shared/tokens/mint';
import { startJwksServer } from '@stagedoor/testkit/jwks-server';
import { generateTestKey } from '@stagedoor/testkit/keys';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadMediaConfig } from '../src/config.js';
import { ISSUER, useMedia } from './support.js';

/** How far media's clock runs ahead of the machine's: tests move it instead of waiting. */
let mediaAheadMs = 0;
const h = useMedia({
  env: { JWKS_COOLDOWN_SECONDS: '0', JWKS_CACHE_MAX_AGE_SECONDS: '1' },
  now: () => Date.now() + mediaAheadMs,
});
const KEY = 'catalog/a.wav';
const URL_PATH = `/v1/objects/${KEY}`;

beforeAll(async () => {
  await h.putObject(KEY, 'audio bytes');
});

function now() {
  return Math.floor(Date.now() / 1000);
}

/** A media token built by hand, so each test can break exactly one thing. */
function craft(
  overrides: { header?: Record<string, unknown>; claims?: Record<string, unknown>; omit?: string[] } = {},
) {
  const iat = now();
  const claims: Record<string, unknown> = {
    iss: ISSUER,
    aud: MEDIA_AUDIENCE,
    sub: 'user-1',
    sid: 'session-1',
    jti: crypto.randomUUID(),
    iat,
    exp: iat + 300,
    key: KEY,
    ...overrides.claims,
  };
  for (const name of overrides.omit ?? []) delete claims[name];
  return new SignJWT(claims).setProtectedHeader({
    alg: 'EdDSA',
    kid: h.key.kid,
    typ: 'media+jwt',
    ...overrides.header,
  } as never);
}

async function expect401(token: string, url = `${URL_PATH}?token=${token}`) {
  const res = await h.app.inject({ url });
  expect(res.statusCode).toBe(401);
  expect(res.json().error).toBe('invalid_token');
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="stagedoor-media"/);
  expect(res.payload).not.toContain(token.slice(-20));
  return res;
}

describe('the craft() baseline', () => {
  it('is accepted, so each refusal below is about the one thing it breaks', async () => {
    const token = await craft().sign(h.key.privateKey);
    expect((await h.app.inject({ url: `${URL_PATH}?token=${token}` })).statusCode).toBe(200);
  });
});

describe('refusals: 401 invalid_token', () => {
  it('no token at all', async () => {
    const res = await h.app.inject({ url: URL_PATH });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: 'invalid_token', message: 'a token is required' });
    expect(res.headers['www-authenticate']).toBe('Bearer realm="stagedoor-media"');
  });

  it('a malformed token, or a non-Bearer Authorization', async () => {
    await expect401('not-a-jwt');
    await expect401('a.b.c');
    await expect401('eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.');
    const basic = await h.app.inject({ url: URL_PATH, headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(basic.statusCode).toBe(401);
  });

  it('a bad signature (same kid, another key)', async () => {
    const impostor = await generateTestKey(h.key.kid);
    await expect401(await craft().sign(impostor.privateKey));
  });

  it('a flipped signature byte', async () => {
    const token = await craft().sign(h.key.privateKey);
    const [head, body, sig = ''] = token.split('.');
    const flipped = `${sig.startsWith('A') ? 'B' : 'A'}${sig.slice(1)}`;
    await expect401(`${head}.${body}.${flipped}`);
  });

  it('an unknown kid', async () => {
    const stranger = await generateTestKey('nobody-knows-me');
    await expect401(await craft({ header: { kid: 'nobody-knows-me' } }).sign(stranger.privateKey));
  });

  it('an expired token (beyond the clock tolerance)', async () => {
    const iat = now() - 400;
    await expect401(await craft({ claims: { iat, exp: iat + 300 } }).sign(h.key.privateKey));
    const minted = await h.mediaToken(KEY, { issuedAt: now() - 306, ttlSeconds: 300 });
    await expect401(minted);
  });

  it('a token not valid yet (nbf in the future)', async () => {
    await expect401(await craft({ claims: { nbf: now() + 60 } }).sign(h.key.privateKey));
  });

  it('a token issued in the future (iat beyond the clock tolerance; the boundary is in token-clock.test.ts)', async () => {
    const iat = now() + 60;
    await expect401(await craft({ claims: { iat, exp: iat + 300 } }).sign(h.key.privateKey));
  });

  it('wrong typ, iss or aud', async () => {
    await expect401(await craft({ header: { typ: 'JWT' } }).sign(h.key.privateKey));
    await expect401(await craft({ header: { typ: undefined } }).sign(h.key.privateKey));
    await expect401(await craft({ claims: { iss: 'http://evil.example' } }).sign(h.key.privateKey));
    await expect401(await craft({ claims: { aud: 'someone-else' } }).sign(h.key.privateKey));
  });

  it('missing iat, exp, sub or jti', async () => {
    for (const claim of ['iat', 'exp', 'sub', 'jti', 'sid']) {
      await expect401(await craft({ omit: [claim] }).sign(h.key.privateKey));
    }
  });

  it('a lifetime longer than the profile allows', async () => {
    const iat = now();
    await expect401(await craft({ claims: { iat, exp: iat + 7200 } }).sign(h.key.privateKey));
  });

  it('a media token with both key and prefix, or with service claims', async () => {
    await expect401(await craft({ claims: { prefix: 'catalog/' } }).sign(h.key.privateKey));
    await expect401(await craft({ claims: { scope: 'media:read' } }).sign(h.key.privateKey));
  });

  it('a service-typed token carrying media claims', async () => {
    const token = await craft({
      header: { typ: 'at+jwt' },
      claims: { client_id: 'c', scope: 'media:read' },
    }).sign(h.key.privateKey);
    const res = await h.app.inject({ url: URL_PATH, headers: { authorization: `Bearer ${token}` } });
    expect(res.statusCode).toBe(401);
  });

  it('an algorithm outside the allowlist (HS256 keyed with the public key, the classic confusion)', async () => {
    const secret = new TextEncoder().encode(JSON.stringify(h.key.publicJwk));
    await expect401(await craft({ header: { alg: 'HS256' } }).sign(secret));
  });

  it('an embedded jwk header with the attacker’s own key (never used to verify)', async () => {
    const attacker = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const jwk = await exportJWK(attacker.publicKey);
    await expect401(await craft({ header: { kid: undefined, jwk } }).sign(attacker.privateKey));
    await expect401(await craft({ header: { jwk } }).sign(attacker.privateKey));
  });

  it('a jku header pointing at the attacker’s key set (never fetched)', async () => {
    const attacker = await generateTestKey('attacker');
    const evil = await startJwksServer([attacker.publicJwk]);
    try {
      await expect401(await craft({ header: { kid: 'attacker', jku: evil.url } }).sign(attacker.privateKey));
      await expect401(await craft({ header: { kid: 'attacker', x5u: evil.url } }).sign(attacker.privateKey));
      expect(evil.fetches).toBe(0);
    } finally {
      await evil.close();
    }
  });

  it('an oversized token, even one validly signed', async () => {
    const small = await craft({ claims: { pad: 'x'.repeat(1000) } }).sign(h.key.privateKey);
    expect(
      (await h.app.inject({ url: URL_PATH, headers: { authorization: `Bearer ${small}` } })).statusCode,
    ).toBe(200);
    const big = await craft({ claims: { pad: 'x'.repeat(9000) } }).sign(h.key.privateKey);
    const res = await h.app.inject({ url: URL_PATH, headers: { authorization: `Bearer ${big}` } });
    expect(res.statusCode).toBe(401);
    expect(res.json().message).toBe('the token is too large');
  });

  it('a token in two places at once', async () => {
    const token = await h.mediaToken(KEY);
    const res = await h.app.inject({
      url: `${URL_PATH}?token=${token}`,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.statusCode).toBe(401);
  });

  it('a media token used as a service token', async () => {
    const token = await h.mediaToken('catalog/');
    const res = await h.app.inject({ url: '/v1/catalog', headers: { authorization: `Bearer ${token}` } });
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toBe('invalid_token');
    const put = await h.app.inject({
      method: 'PUT',
      url: '/v1/objects/catalog/x.wav',
      headers: { authorization: `Bearer ${token}` },
      payload: 'x',
    });
    expect(put.statusCode).toBe(401);
  });

  it('a service token used as a media token in a URL (it may only travel in Authorization)', async () => {
    const token = await h.serviceToken('media:read');
    await expect401(token);
    await expect401(token, `/v1/t/${token}/${KEY}`);
  });
});

describe('refusals: 403, 404 and their order', () => {
  it('an invalid token for a missing key is 401, not 404', async () => {
    const res = await h.app.inject({ url: '/v1/objects/catalog/missing.wav?token=garbage.garbage.garbage' });
    expect(res.statusCode).toBe(401);
  });

  it('a valid token not covering the key is 403, whether or not the key exists', async () => {
    const token = await h.mediaToken('catalog/other.wav');
    const exists = await h.app.inject({ url: `${URL_PATH}?token=${token}` });
    expect(exists.statusCode).toBe(403);
    expect(exists.json().error).toBe('forbidden');
    expect(exists.headers['cache-control']).toBe('no-store');
    const missing = await h.app.inject({ url: `/v1/objects/catalog/missing.wav?token=${token}` });
    expect(missing.statusCode).toBe(403);
  });

  it('a prefix token does not cover a sibling prefix that merely starts the same', async () => {
    const token = await h.mediaToken('users/u1/');
    const res = await h.app.inject({ url: `/v1/objects/users/u10/a.wav?token=${token}` });
    expect(res.statusCode).toBe(403);
  });

  it('404 only for a valid token covering the key', async () => {
    const token = await h.mediaToken('catalog/missing.wav');
    const res = await h.app.inject({ url: `/v1/objects/catalog/missing.wav?token=${token}` });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toBe('not_found');
    const head = await h.app.inject({
      method: 'HEAD',
      url: `/v1/objects/catalog/missing.wav?token=${token}`,
    });
    expect(head.statusCode).toBe(404);
  });

  it('a service token without the needed scope is 403', async () => {
    const token = await h.serviceToken('media:read');
    const list = await h.app.inject({ url: '/v1/catalog', headers: { authorization: `Bearer ${token}` } });
    expect(list.statusCode).toBe(403);
    const put = await h.app.inject({
      method: 'PUT',
      url: '/v1/objects/catalog/x.wav',
      headers: { authorization: `Bearer ${token}` },
      payload: 'x',
    });
    expect(put.statusCode).toBe(403);
  });
});

/** A GET sent over a real socket with the path exactly as written (inject would resolve `..` first). */
async function rawGet(
  path: string,
): Promise<{ statusCode: number; payload: string; json(): { error: string } }> {
  const address = h.app.server.listening ? h.app.server.address() : null;
  if (!address) await h.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = h.app.server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        let payload = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          payload += c;
        });
        res.on('end', () =>
          resolve({ statusCode: res.statusCode ?? 0, payload, json: () => JSON.parse(payload) }),
        );
      })
      .on('error', reject);
  });
}

describe('key rules (400 invalid_key)', () => {
  const bad = [
    '/v1/objects/catalog/../users/u2/a.wav',
    '/v1/objects/catalog/%2e%2e/users/u2/a.wav',
    '/v1/objects/catalog/./a.wav',
    '/v1/objects/catalog//a.wav',
    '/v1/objects//catalog/a.wav',
    '/v1/objects/catalog/a.wav/',
    '/v1/objects/catalog/a%5Cb.wav',
    '/v1/objects/catalog/a%00b.wav',
    '/v1/objects/catalog/a%0Ab.wav',
    '/v1/objects/catalog%2Fa.wav',
    '/v1/objects/catalog/a%zzb.wav',
    `/v1/objects/catalog/${'a'.repeat(1020)}`,
  ];
  for (const url of bad) {
    it(`refuses ${url.slice(0, 60)}`, async () => {
      const token = await h.mediaToken('catalog/');
      const res = await rawGet(`${url}?token=${token}`);
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toBe('invalid_key');
      expect(res.payload).not.toContain(token);
    });
  }

  it('refuses a bad key in the path-token form too, without echoing the URL', async () => {
    const token = await h.mediaToken('catalog/');
    for (const rest of ['catalog/../x', 'catalog/a%zz', '']) {
      const res = await rawGet(`/v1/t/${token}/${rest}`);
      expect(res.statusCode).toBe(400);
      expect(res.payload).not.toContain(token);
    }
  });

  it('accepts percent-encoded unicode and spaces', async () => {
    await h.putObject('catalog/été 1.wav', 'x');
    const token = await h.mediaToken('catalog/été 1.wav');
    const res = await h.app.inject({
      url: `/v1/objects/catalog/${encodeURIComponent('été 1.wav')}?token=${token}`,
    });
    expect(res.statusCode).toBe(200);
  });
});

describe('keys: rotation, static file, reachability', () => {
  it('learns a new kid without a restart, and stops accepting a retired one', async () => {
    const next = await generateTestKey('test-key-2');
    h.jwks.setKeys([h.key.publicJwk, next.publicJwk]);
    const byNext = await mintMediaToken({
      key: next,
      issuer: ISSUER,
      subject: 'u',
      sid: 's',
      grant: { kind: 'key', key: KEY },
      ttlSeconds: 300,
    });
    expect((await h.app.inject({ url: `${URL_PATH}?token=${byNext.token}` })).statusCode).toBe(200);
    const byOld = await h.mediaToken(KEY);
    expect((await h.app.inject({ url: `${URL_PATH}?token=${byOld}` })).statusCode).toBe(200);
    h.jwks.setKeys([next.publicJwk]);
    mediaAheadMs += 1100; // past JWKS_CACHE_MAX_AGE_SECONDS=1, by media's clock
    expect((await h.app.inject({ url: `${URL_PATH}?token=${byOld}` })).statusCode).toBe(401);
    expect((await h.app.inject({ url: `${URL_PATH}?token=${byNext.token}` })).statusCode).toBe(200);
    h.jwks.setKeys([h.key.publicJwk]);
    mediaAheadMs += 1100;
  });

  it('verifies against a static JWKS_FILE', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'media-jwks-'));
    const file = join(dir, 'jwks.json');
    writeFileSync(file, JSON.stringify({ keys: [h.key.publicJwk] }));
    const app = await buildApp(loadMediaConfig({ ...h.env, JWKS_URL: '', JWKS_FILE: file }), {
      logger: false,
    });
    try {
      const token = await h.mediaToken(KEY);
      expect((await app.inject({ url: `${URL_PATH}?token=${token}` })).statusCode).toBe(200);
      expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is ready only while storage answers and it holds keys; a failed key refresh is a detail', async () => {
    expect((await h.app.inject({ url: '/readyz' })).statusCode).toBe(200);
    h.jwks.setFailing(true);
    try {
      // Keys fetched before still verify (media keeps serving while the gateway is away): still ready.
      const res = await h.app.inject({ url: '/readyz' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({
        status: 'degraded',
        details: { verificationKeys: { ok: false, state: 'stale' } },
      });
      // No keys ever fetched: no token can be judged, so not ready.
      const keyless = await buildApp(loadMediaConfig(h.env), { logger: false });
      try {
        const none = await keyless.inject({ url: '/readyz' });
        expect(none.statusCode).toBe(503);
        expect(none.json().message).toContain('verification keys');
      } finally {
        await keyless.close();
      }
    } finally {
      h.jwks.setFailing(false);
    }
    const noStorage = await buildApp(
      loadMediaConfig({ ...h.env, S3_ENDPOINT: 'http://127.0.0.1:9', S3_CONNECT_TIMEOUT_MS: '500' }),
      { logger: false },
    );
    try {
      const started = Date.now();
      const res = await noStorage.inject({ url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json().message).toContain('storage');
      const token = await h.mediaToken(KEY);
      const get = await noStorage.inject({ url: `${URL_PATH}?token=${token}` });
      expect(get.statusCode).toBe(503);
      expect(get.json().error).toBe('storage_unavailable');
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await noStorage.close();
    }
  });

  it('answers 503 (not 401) when no keys were ever fetched and the key server is down', async () => {
    const down = await startJwksServer([h.key.publicJwk]);
    down.setFailing(true);
    const app = await buildApp(loadMediaConfig({ ...h.env, JWKS_URL: down.url }), { logger: false });
    try {
      const token = await h.mediaToken(KEY);
      const res = await app.inject({ url: `${URL_PATH}?token=${token}` });
      expect(res.statusCode).toBe(503);
      down.setFailing(false);
      expect((await app.inject({ url: `${URL_PATH}?token=${token}` })).statusCode).toBe(200);
    } finally {
      await app.close();
      await down.close();
    }
  });
});

describe('verified-token cache (a player sends one token with every range request)', () => {
  it('never lets a token that differs from a verified one ride on its signature', async () => {
    const token = await h.mediaToken(KEY);
    expect((await h.app.inject({ url: `${URL_PATH}?token=${token}` })).statusCode).toBe(200);
    const [head = '', , sig = ''] = token.split('.');
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
    // Same header, same signature, a payload granting something else: not the cached token.
    const forged = Buffer.from(JSON.stringify({ ...payload, key: 'catalog/other.wav' })).toString(
      'base64url',
    );
    await expect401(
      `${head}.${forged}.${sig}`,
      `/v1/objects/catalog/other.wav?token=${head}.${forged}.${sig}`,
    );
    // Same claims re-encoded (another byte string for the same JSON): verified from scratch, and refused.
    const respaced = Buffer.from(JSON.stringify(payload, null, 1)).toString('base64url');
    await expect401(`${head}.${respaced}.${sig}`);
    expect((await h.app.inject({ url: `${URL_PATH}?token=${token}` })).statusCode).toBe(200);
  });

  it('refuses a cached token once it expires', async () => {
    // Keys cached for long (unlike the rest of this file), so only the token's own expiry can end the entry.
    let ahead = 0;
    const app = await buildApp(
      loadMediaConfig({ ...h.env, CLOCK_TOLERANCE_SECONDS: '0', JWKS_CACHE_MAX_AGE_SECONDS: '600' }),
      { logger: false, now: () => Date.now() + ahead },
    );
    try {
      const iat = now();
      const token = await craft({ claims: { iat, exp: iat + 2 } }).sign(h.key.privateKey);
      expect((await app.inject({ url: `${URL_PATH}?token=${token}` })).statusCode).toBe(200);
      expect((await app.inject({ url: `${URL_PATH}?token=${token}` })).statusCode).toBe(200);
      ahead = 3000; // media's clock past exp (iat + 2), with no tolerance
      const res = await app.inject({ url: `${URL_PATH}?token=${token}` });
      expect(res.statusCode).toBe(401);
      expect(res.json().message).toMatch(/expired/);
    } finally {
      await app.close();
    }
  });

  it('forgets what it verified when the key set is fetched again (a removed key stops at the refresh)', async () => {
    // The rotation test above covers it through HTTP; here the cache is off and on in the same situation.
    for (const entries of ['0', '1024']) {
      const keys = await startJwksServer([h.key.publicJwk]);
      let ahead = 0;
      const app = await buildApp(
        loadMediaConfig({ ...h.env, JWKS_URL: keys.url, TOKEN_CACHE_ENTRIES: entries }),
        { logger: false, now: () => Date.now() + ahead },
      );
      try {
        const token = await h.mediaToken(KEY);
        expect((await app.inject({ url: `${URL_PATH}?token=${token}` })).statusCode).toBe(200);
        keys.setKeys([]);
        ahead = 1100; // past JWKS_CACHE_MAX_AGE_SECONDS=1, by media's clock
        expect((await app.inject({ url: `${URL_PATH}?token=${token}` })).statusCode).toBe(401);
      } finally {
        await app.close();
        await keys.close();
      }
    }
  });
});
