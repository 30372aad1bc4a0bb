import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@stagedoor/shared/env';
import { MEDIA_AUDIENCE } from '@stagedoor/shared/tokens';
import { mintMediaToken } from '@stagedoor/shared/tokens/mint';
import type { FastifyInstance } from 'fastify';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadGatewayConfig } from '../src/config.js';
import { DEV_KEYS_FILE_NAME, loadSigningKeySet } from '../src/plugins/signing-keys.js';

const dataDir = mkdtempSync(join(tmpdir(), 'sd-gw-jwks-'));
const env = { DATA_DIR: dataDir, GATEWAY_PUBLIC_URL: 'http://gateway.test:8080/' };

describe('JWKS with a generated development key', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildApp(loadGatewayConfig(env), { logger: false });
  });
  afterAll(async () => {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps the generated key in a 0600 file under DATA_DIR', () => {
    const path = join(dataDir, DEV_KEYS_FILE_NAME);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(readFileSync(path, 'utf8'));
    expect(stored.keys).toHaveLength(1);
    expect(stored.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', status: 'active' });
    expect(stored.keys[0].kid).toBe(app.signingKeys.active().kid);
  });

  it('publishes only the public half, with kid, alg and use, and a short public cache', async () => {
    const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('public, max-age=60');
    const { keys } = res.json();
    expect(keys).toEqual([
      {
        kty: 'OKP',
        crv: 'Ed25519',
        x: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        kid: app.signingKeys.active().kid,
        alg: 'EdDSA',
        use: 'sig',
      },
    ]);
    expect(res.body).not.toContain('"d"');
  });

  it('verifies what the active key signs, with the public origin as issuer', async () => {
    expect(app.signingKeys.issuer).toBe('http://gateway.test:8080');
    const minted = await mintMediaToken({
      key: app.signingKeys.active(),
      issuer: app.signingKeys.issuer,
      subject: 'u1',
      sid: 'ses_x',
      grant: { kind: 'key', key: 'catalog/a.wav' },
      ttlSeconds: 60,
    });
    const jwks = createLocalJWKSet((await app.inject({ url: '/.well-known/jwks.json' })).json());
    const { payload } = await jwtVerify(minted.token, jwks, {
      issuer: 'http://gateway.test:8080',
      audience: MEDIA_AUDIENCE,
      algorithms: ['EdDSA'],
    });
    expect(payload.key).toBe('catalog/a.wav');
  });

  it('keeps the same key across a restart, so earlier tokens stay valid', async () => {
    const again = await buildApp(loadGatewayConfig(env), { logger: false });
    try {
      expect(again.signingKeys.active().kid).toBe(app.signingKeys.active().kid);
      const a = (await app.inject({ url: '/.well-known/jwks.json' })).json();
      const b = (await again.inject({ url: '/.well-known/jwks.json' })).json();
      expect(b).toEqual(a);
    } finally {
      await again.close();
    }
  });
});

describe('development key creation', () => {
  it('ends with one key when several processes start at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-gw-race-'));
    try {
      const options = {
        issuer: 'http://localhost:8080',
        file: undefined,
        json: undefined,
        dataDir: join(dir, 'nested'),
        production: false,
        maxTokenLifetimeSeconds: 300,
      };
      const sets = await Promise.all(Array.from({ length: 6 }, () => loadSigningKeySet(options)));
      expect(new Set(sets.map((s) => s.active().kid)).size).toBe(1);
      expect(statSync(join(dir, 'nested')).mode & 0o777).toBe(0o700);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is refused in production: keys must be provisioned', async () => {
    await expect(
      loadSigningKeySet({
        issuer: 'https://gw.example',
        file: undefined,
        json: undefined,
        dataDir: tmpdir(),
        production: true,
        maxTokenLifetimeSeconds: 300,
      }),
    ).rejects.toBeInstanceOf(ConfigError);
  });
});
