import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@stagedoor/shared/env';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadGatewayConfig } from '../src/config.js';
import { generateSigningKeyJwk, loadSigningKeySet, parseSigningKeySet } from '../src/plugins/signing-keys.js';

const dir = mkdtempSync(join(tmpdir(), 'sd-gw-rotation-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function problemsOf(text: string): string[] {
  try {
    parseSigningKeySet(text, 'SIGNING_KEYS');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('the key set was accepted');
}

const keyA = { ...generateSigningKeyJwk('key-a'), status: 'active' };
const keyB = { ...generateSigningKeyJwk('key-b'), status: 'published' };

describe('SIGNING_KEYS validation at start-up', () => {
  it('refuses a public-only key', () => {
    const { d: _d, ...publicOnly } = keyA;
    expect(problemsOf(JSON.stringify({ keys: [publicOnly] })).join('\n')).toMatch(/must be a private key/);
  });
  it('refuses duplicate kids', () => {
    const twin = { ...generateSigningKeyJwk('key-a'), status: 'published' };
    expect(problemsOf(JSON.stringify({ keys: [keyA, twin] })).join('\n')).toMatch(/used twice/);
  });
  it('refuses zero or two active keys', () => {
    expect(problemsOf(JSON.stringify({ keys: [keyB] })).join('\n')).toMatch(
      /exactly one key .*active.*found 0/,
    );
    const second = { ...keyB, status: 'active' };
    expect(problemsOf(JSON.stringify({ keys: [keyA, second] })).join('\n')).toMatch(/found 2/);
  });
  it('refuses a d that does not belong to its x', () => {
    const mixed = { ...keyA, x: keyB.x };
    expect(problemsOf(JSON.stringify({ keys: [mixed] })).join('\n')).toMatch(/not the public half/);
  });
  it('refuses other curves, algorithms, statuses and non-JSON, listing every problem', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
    const problems = problemsOf(
      JSON.stringify({
        keys: [
          { ...ec, kid: 'ec', status: 'active' },
          { ...keyA, alg: 'HS256' },
          { ...keyB, status: 'next' },
        ],
      }),
    );
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/Ed25519[\s\S]*alg[\s\S]*status/);
    expect(problemsOf('{not json')).toEqual(['SIGNING_KEYS is not valid JSON']);
    expect(problemsOf('{"keys":[]}').join('\n')).toMatch(/at least one key/);
  });
});

describe('which keys are published', () => {
  it('active and published always; retired only within the longest token lifetime after retiredAt', async () => {
    const retiredAt = Date.parse('2026-11-29T12:00:00Z') / 1000;
    const retired = {
      ...generateSigningKeyJwk('key-old'),
      status: 'retired',
      retiredAt: '2026-11-29T12:00:00Z',
    };
    const gone = { ...generateSigningKeyJwk('key-gone'), status: 'retired' };
    const set = await loadSigningKeySet({
      issuer: 'http://localhost:8080',
      file: undefined,
      json: JSON.stringify({ keys: [keyA, keyB, retired, gone] }),
      dataDir: dir,
      production: true,
      maxTokenLifetimeSeconds: 300,
    });
    expect(set.active().kid).toBe('key-a');
    const kids = (now: number) => set.publicKeys(now).map((k) => k.kid);
    expect(kids(retiredAt + 1)).toEqual(['key-a', 'key-b', 'key-old']);
    // 300 s lifetime + 5 s clock tolerance.
    expect(kids(retiredAt + 304)).toEqual(['key-a', 'key-b', 'key-old']);
    expect(kids(retiredAt + 305)).toEqual(['key-a', 'key-b']);
    for (const key of set.publicKeys(retiredAt))
      expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
  });
});

describe('reloading SIGNING_KEYS_FILE', () => {
  const file = join(dir, 'keys.json');
  let app: FastifyInstance;
  const jwksKids = async () =>
    ((await app.inject({ url: '/.well-known/jwks.json' })).json().keys as { kid: string }[]).map(
      (k) => k.kid,
    );

  beforeAll(async () => {
    writeFileSync(file, JSON.stringify({ keys: [keyA] }), { mode: 0o600 });
    app = await buildApp(loadGatewayConfig({ SIGNING_KEYS_FILE: file, DATA_DIR: dir }), { logger: false });
  });
  afterAll(async () => app.close());

  it('walks the rotation: publish, activate, retire', async () => {
    expect(app.signingKeys.source).toBe('file');
    expect(await jwksKids()).toEqual(['key-a']);

    writeFileSync(file, JSON.stringify({ keys: [keyA, keyB] }));
    await app.signingKeys.reload();
    expect(await jwksKids()).toEqual(['key-a', 'key-b']);
    expect(app.signingKeys.active().kid).toBe('key-a');

    writeFileSync(
      file,
      JSON.stringify({
        keys: [
          { ...keyA, status: 'published' },
          { ...keyB, status: 'active' },
        ],
      }),
    );
    await app.signingKeys.reload();
    expect(app.signingKeys.active().kid).toBe('key-b');
    expect(await jwksKids()).toEqual(['key-a', 'key-b']);

    writeFileSync(
      file,
      JSON.stringify({
        keys: [
          { ...keyA, status: 'retired' },
          { ...keyB, status: 'active' },
        ],
      }),
    );
    await app.signingKeys.reload();
    expect(await jwksKids()).toEqual(['key-b']);
  });

  it('keeps the previous set when a reload finds a broken file', async () => {
    writeFileSync(file, JSON.stringify({ keys: [{ ...keyB, status: 'active' }] }));
    await app.signingKeys.reload();
    const before = app.signingKeys.active().kid;
    writeFileSync(file, '{"keys": [ broken');
    await expect(app.signingKeys.reload()).rejects.toBeInstanceOf(ConfigError);
    expect(app.signingKeys.active().kid).toBe(before);
    expect(await jwksKids()).toEqual(['key-b']);
  });

  it('reloads on SIGHUP', async () => {
    writeFileSync(file, JSON.stringify({ keys: [{ ...keyA, status: 'active' }] }));
    process.emit('SIGHUP', 'SIGHUP');
    await expect.poll(() => app.signingKeys.active().kid).toBe('key-a');
  });
});
