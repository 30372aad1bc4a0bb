/**
 * Browser → gateway → media → S3: a signed-in user mints tokens at the gateway and media serves with
 * them; what the gateway refuses to mint, and what media refuses to serve.
 */
import { randomBytes } from 'node:crypto';
import { DEMO_ADMIN, DEMO_LISTENER } from '@stagedoor/shared/demo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keySet, newPrivateJwk } from '../src/keys.js';
import { type BrowserSession, mintToken, type Stack, signIn, startStack } from '../src/stack.js';

const AUDIO = randomBytes(64 * 1024);
const CATALOG_KEY = 'catalog/Night Drive.wav';
const OWN_KEY = `users/${DEMO_LISTENER.id}/voice memo.wav`;
const OTHER_KEY = `users/${DEMO_ADMIN.id}/secret.wav`;

let stack: Stack;
let listener: BrowserSession;

beforeAll(async () => {
  stack = await startStack({ signingKeys: keySet([newPrivateJwk('k1'), 'active']) });
  await stack.putObject(CATALOG_KEY, AUDIO, 'audio/wav');
  await stack.putObject('catalog/second.wav', AUDIO.subarray(0, 1000), 'audio/wav');
  await stack.putObject(OWN_KEY, AUDIO.subarray(0, 2000), 'audio/wav');
  await stack.putObject(OTHER_KEY, AUDIO.subarray(0, 3000), 'audio/wav');
  listener = await signIn(stack.gatewayUrl);
});
afterAll(async () => stack?.close());

describe('a key token', () => {
  it('is minted for a catalog key and media serves the object with it, whole and by range', async () => {
    const res = await mintToken(stack.gatewayUrl, listener, { key: CATALOG_KEY });
    expect(res.status).toBe(201);
    const { url, token } = (await res.json()) as { url: string; token: string };
    expect(url.startsWith(`${stack.mediaUrl}/v1/objects/catalog/Night%20Drive.wav?token=`)).toBe(true);

    const whole = await fetch(url);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-type')).toBe('audio/wav');
    expect(Buffer.from(await whole.arrayBuffer()).equals(AUDIO)).toBe(true);

    const ranged = await fetch(url, { headers: { range: 'bytes=100-199' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe(`bytes 100-199/${AUDIO.length}`);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(AUDIO.subarray(100, 200))).toBe(true);

    const bearer = await fetch(`${stack.mediaUrl}/v1/objects/catalog/Night%20Drive.wav`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(bearer.status).toBe(200);
    await bearer.arrayBuffer();
  });

  it('covers exactly its key: media refuses another key with it (403)', async () => {
    const { token } = (await (await mintToken(stack.gatewayUrl, listener, { key: CATALOG_KEY })).json()) as {
      token: string;
    };
    const other = await fetch(`${stack.mediaUrl}/v1/objects/catalog/second.wav?token=${token}`);
    expect(other.status).toBe(403);
    expect(((await other.json()) as { error: string }).error).toBe('forbidden');
  });

  it("is minted for the caller's own private object, which media serves", async () => {
    const res = await mintToken(stack.gatewayUrl, listener, { key: OWN_KEY });
    expect(res.status).toBe(201);
    const media = await fetch(((await res.json()) as { url: string }).url);
    expect(media.status).toBe(200);
    expect((await media.arrayBuffer()).byteLength).toBe(2000);
  });
});

describe('a prefix token', () => {
  it('serves every key under its prefix through /v1/t/<token>/, with relative URLs resolving', async () => {
    const res = await mintToken(stack.gatewayUrl, listener, { prefix: 'catalog/' });
    expect(res.status).toBe(201);
    const { url, token } = (await res.json()) as { url: string; token: string };
    expect(url).toBe(`${stack.mediaUrl}/v1/t/${token}/catalog/`);
    const first = await fetch(new URL('Night%20Drive.wav', url));
    expect(first.status).toBe(200);
    await first.arrayBuffer();
    const second = await fetch(new URL('second.wav', url));
    expect(second.status).toBe(200);
    expect((await second.arrayBuffer()).byteLength).toBe(1000);
    const outside = await fetch(`${stack.mediaUrl}/v1/t/${token}/${OTHER_KEY}`);
    expect(outside.status).toBe(403);
  });
});

describe('what the gateway refuses to mint', () => {
  it("another user's private key is 403 forbidden at mint", async () => {
    const res = await mintToken(stack.gatewayUrl, listener, { key: OTHER_KEY });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toBe('forbidden');
    const prefix = await mintToken(stack.gatewayUrl, listener, { prefix: `users/${DEMO_ADMIN.id}/` });
    expect(prefix.status).toBe(403);
  });

  it('an invalid key is 400 invalid_key', async () => {
    for (const key of ['catalog/../users/x.wav', '/catalog/a.wav', 'catalog//a.wav']) {
      const res = await mintToken(stack.gatewayUrl, listener, { key });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe('invalid_key');
    }
  });

  it('a revoked session cannot mint, and the tokens it already got are refused by media (revocation.test.ts)', async () => {
    const phone = await signIn(stack.gatewayUrl);
    const minted = await mintToken(stack.gatewayUrl, phone, { key: CATALOG_KEY });
    expect(minted.status).toBe(201);
    const { url } = (await minted.json()) as { url: string };
    const revoke = await fetch(`${stack.gatewayUrl}/auth/sessions/${phone.sessionId}`, {
      method: 'DELETE',
      headers: { cookie: listener.cookie, 'x-csrf-token': listener.csrfToken },
    });
    expect(revoke.status).toBe(204);
    const after = await mintToken(stack.gatewayUrl, phone, { key: CATALOG_KEY });
    expect(after.status).toBe(401);
    // Media has heard of it through the revocation feed (timing and every replica: revocation.test.ts).
    let refused: Response;
    const started = Date.now();
    do refused = await fetch(url);
    while (refused.status === 200 && Date.now() - started < 1000 && (await refused.arrayBuffer()));
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: string }).error).toBe('token_revoked');
  });

  it('a signed-out session cannot mint', async () => {
    const session = await signIn(stack.gatewayUrl);
    const out = await fetch(`${stack.gatewayUrl}/auth/logout`, {
      method: 'POST',
      headers: { cookie: session.cookie, 'x-csrf-token': session.csrfToken },
    });
    expect(out.status).toBe(204);
    expect((await mintToken(stack.gatewayUrl, session, { key: CATALOG_KEY })).status).toBe(401);
  });
});

describe('what media refuses', () => {
  it('a tampered token is 401 invalid_token', async () => {
    const { token } = (await (await mintToken(stack.gatewayUrl, listener, { key: CATALOG_KEY })).json()) as {
      token: string;
    };
    const [h, p] = token.split('.');
    const forged = `${h}.${p}.${Buffer.alloc(64).toString('base64url')}`;
    const res = await fetch(`${stack.mediaUrl}/v1/objects/catalog/Night%20Drive.wav?token=${forged}`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_token');
  });
});
