/**
 * Token times judged against an injected clock (no sleeps): `iat` beyond the clock tolerance in the future
 * is refused like `exp` in the past, and the tolerance is exactly the configured one.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLOCK_TOLERANCE_SECONDS } from '@stagedoor/shared/tokens';
import { mintMediaToken, mintServiceToken } from '@stagedoor/shared/tokens/mint';
import { generateTestKey, type TestKey } from '@stagedoor/testkit/keys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMediaConfig } from '../src/config.js';
import { createTokenVerifier, TokenRejected } from '../src/plugins/token-verifier.js';

const ISSUER = 'http://localhost:8080';
const T = 2_000_000_000; // the injected "now", far from the machine's clock
let key: TestKey;
let dir: string;
let jwksFile: string;

beforeAll(async () => {
  key = await generateTestKey('clock-key');
  dir = mkdtempSync(join(tmpdir(), 'media-clock-'));
  jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [key.publicJwk] }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function verifierAt(now: number, env: Record<string, string> = {}) {
  const config = loadMediaConfig({ JWKS_FILE: jwksFile, GATEWAY_PUBLIC_URL: ISSUER, ...env });
  return createTokenVerifier(config, { nowSeconds: () => now });
}

async function mediaTokenIssuedAt(issuedAt: number): Promise<string> {
  const grant = { kind: 'key', key: 'catalog/a.wav' } as const;
  return (
    await mintMediaToken({ key, issuer: ISSUER, subject: 'u', sid: 's', grant, ttlSeconds: 300, issuedAt })
  ).token;
}

async function expectRejected(promise: Promise<unknown>, reason: RegExp) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TokenRejected);
  expect((error as Error).message).toMatch(reason);
}

describe('token times against an injected clock', () => {
  it('accepts an iat up to the clock tolerance ahead, and refuses one a second beyond it', async () => {
    const atEdge = await mediaTokenIssuedAt(T + CLOCK_TOLERANCE_SECONDS);
    const beyond = await mediaTokenIssuedAt(T + CLOCK_TOLERANCE_SECONDS + 1);
    expect((await verifierAt(T).verify(atEdge)).profile).toBe('media');
    await expectRejected(verifierAt(T).verify(beyond), /"iat" claim is in the future/);
    // The same token passes once the clock has caught up: the refusal is about time, nothing else.
    expect((await verifierAt(T + 1).verify(beyond)).profile).toBe('media');
  });

  it('uses the configured tolerance (CLOCK_TOLERANCE_SECONDS=0 refuses a token issued a second ahead)', async () => {
    const ahead = await mediaTokenIssuedAt(T + 1);
    await expectRejected(
      verifierAt(T, { CLOCK_TOLERANCE_SECONDS: '0' }).verify(ahead),
      /"iat" claim is in the future/,
    );
    expect((await verifierAt(T + 1, { CLOCK_TOLERANCE_SECONDS: '0' }).verify(ahead)).profile).toBe('media');
  });

  it('refuses a service token issued in the future too', async () => {
    const service = await mintServiceToken({
      key,
      issuer: ISSUER,
      clientId: 'c',
      scope: 'media:read',
      ttlSeconds: 300,
      issuedAt: T + 60,
    });
    await expectRejected(verifierAt(T).verify(service.token), /"iat" claim is in the future/);
  });

  it('judges exp by the same clock: expired past exp plus the tolerance', async () => {
    const token = await mediaTokenIssuedAt(T); // exp = T + 300
    expect((await verifierAt(T + 300 + CLOCK_TOLERANCE_SECONDS - 1).verify(token)).profile).toBe('media');
    await expectRejected(verifierAt(T + 300 + CLOCK_TOLERANCE_SECONDS + 1).verify(token), /expired/);
  });
});
