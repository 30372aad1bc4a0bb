import { generateKeyPairSync, webcrypto } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { MEDIA_AUDIENCE, MEDIA_TOKEN_TYP, SERVICE_TOKEN_TYP } from '../src/tokens/claims.js';
import { mintMediaToken, mintServiceToken } from '../src/tokens/mint.js';

// Minted by node:crypto, verified by jose: an independent implementation checks every byte.
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const key = { kid: 'k-1', privateKey };

describe('minted tokens verify with jose, with exactly the contract header and claims', () => {
  it('a media token for a key', async () => {
    const minted = await mintMediaToken({
      key,
      issuer: 'http://localhost:8080',
      subject: 'usr_1',
      sid: 'ses_1',
      grant: { kind: 'key', key: 'catalog/a é.wav' },
      ttlSeconds: 300,
      issuedAt: 1_900_000_000,
    });
    expect(decodeProtectedHeader(minted.token)).toEqual({ alg: 'EdDSA', kid: 'k-1', typ: MEDIA_TOKEN_TYP });
    const { payload } = await jwtVerify(minted.token, publicKey, {
      algorithms: ['EdDSA'],
      typ: MEDIA_TOKEN_TYP,
      issuer: 'http://localhost:8080',
      audience: MEDIA_AUDIENCE,
      currentDate: new Date(1_900_000_010_000),
    });
    expect(payload).toEqual({
      sid: 'ses_1',
      key: 'catalog/a é.wav',
      iss: 'http://localhost:8080',
      aud: MEDIA_AUDIENCE,
      sub: 'usr_1',
      iat: 1_900_000_000,
      exp: 1_900_000_300,
      jti: minted.jti,
    });
    expect(minted.expiresAt).toBe(1_900_000_300);
  });

  it('a media token for a prefix, signed with a WebCrypto key, its lifetime capped at 3600 s', async () => {
    const pair = (await webcrypto.subtle.generateKey({ name: 'Ed25519' }, false, [
      'sign',
      'verify',
    ])) as unknown as webcrypto.CryptoKeyPair;
    const minted = await mintMediaToken({
      key: { kid: 'k-2', privateKey: pair.privateKey },
      issuer: 'https://gw.example',
      subject: 'usr_2',
      sid: 'ses_2',
      grant: { kind: 'prefix', prefix: 'catalog/hls/x/' },
      ttlSeconds: 99_999,
    });
    const { payload } = await jwtVerify(minted.token, pair.publicKey, { typ: MEDIA_TOKEN_TYP });
    expect(payload.prefix).toBe('catalog/hls/x/');
    expect(payload.key).toBeUndefined();
    expect((payload.exp as number) - (payload.iat as number)).toBe(3600);
  });

  it('a service token (RFC 9068: sub is the client)', async () => {
    const minted = await mintServiceToken({
      key,
      issuer: 'http://localhost:8080',
      clientId: 'demo-ingest',
      scope: 'media:read media:list',
      ttlSeconds: 120,
    });
    const { payload, protectedHeader } = await jwtVerify(minted.token, publicKey, { typ: SERVICE_TOKEN_TYP });
    expect(protectedHeader.typ).toBe(SERVICE_TOKEN_TYP);
    expect(payload).toMatchObject({
      client_id: 'demo-ingest',
      sub: 'demo-ingest',
      scope: 'media:read media:list',
    });
  });

  it('a changed claim no longer verifies, and a key of another kind is refused', async () => {
    const { token } = await mintMediaToken({
      key,
      issuer: 'i',
      subject: 's',
      sid: 'ses_3',
      grant: { kind: 'key', key: 'catalog/a.wav' },
      ttlSeconds: 60,
    });
    const [header, body, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, key: 'users/other/x.wav' })).toString('base64url');
    await expect(jwtVerify(`${header}.${forged}.${signature}`, publicKey)).rejects.toThrow(/signature/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    await expect(
      mintServiceToken({
        key: { kid: 'r', privateKey: rsa },
        issuer: 'i',
        clientId: 'c',
        scope: '',
        ttlSeconds: 1,
      }),
    ).rejects.toThrow(/Ed25519/);
  });
});
