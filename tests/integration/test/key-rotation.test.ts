/**
 * Key rotation across both apps, as the README runbook does it, with media running throughout:
 * publish a new key (not yet signing) → media sees it → make it active → retire the old one.
 *
 * Media is configured so that it can only learn keys the way the runbook relies on: its JWKS cache
 * expires after 2 s (JWKS_CACHE_MAX_AGE_SECONDS) and the refetch-on-unknown-kid shortcut is disabled by a
 * one-hour cooldown, so a new kid is accepted only if it was published before it was used. The test moves
 * media's clock past the cache age instead of waiting for it.
 */
import { randomBytes } from 'node:crypto';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keySet, newPrivateJwk } from '../src/keys.js';
import { type BrowserSession, mintToken, type Stack, signIn, startStack } from '../src/stack.js';

const KEY = 'catalog/rotation.wav';
const oldKey = newPrivateJwk('2026-11-old');
const newKey = newPrivateJwk('2026-12-new');
const MEDIA_CACHE_SECONDS = 2;
/** How far media's clock runs ahead of the machine's. */
let mediaAheadMs = 0;

let stack: Stack;
let listener: BrowserSession;

async function mint(): Promise<{ token: string; url: string }> {
  const res = await mintToken(stack.gatewayUrl, listener, { key: KEY });
  expect(res.status).toBe(201);
  return (await res.json()) as { token: string; url: string };
}

async function jwksKids(): Promise<string[]> {
  const res = await fetch(`${stack.gatewayUrl}/.well-known/jwks.json`);
  return ((await res.json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
}

/** Moves media's clock past its JWKS cache age, so its cached key set is stale. */
function letMediaKeysGoStale(): void {
  mediaAheadMs += MEDIA_CACHE_SECONDS * 1000 + 300;
}

/** Lets media's cached key set go stale, then makes it refetch with a request. */
async function letMediaRefetch(url: string): Promise<void> {
  letMediaKeysGoStale();
  await (await fetch(url)).arrayBuffer();
}

beforeAll(async () => {
  stack = await startStack({
    signingKeys: keySet([oldKey, 'active']),
    mediaEnv: { JWKS_CACHE_MAX_AGE_SECONDS: String(MEDIA_CACHE_SECONDS), JWKS_COOLDOWN_SECONDS: '3600' },
    mediaNow: () => Date.now() + mediaAheadMs,
  });
  await stack.putObject(KEY, randomBytes(4096), 'audio/wav');
  listener = await signIn(stack.gatewayUrl);
});
afterAll(async () => stack?.close());

describe('rotating the signing key with both apps running', () => {
  let oldToken: { token: string; url: string };

  it('starts with the old key signing and media verifying it', async () => {
    oldToken = await mint();
    expect(decodeProtectedHeader(oldToken.token).kid).toBe(oldKey.kid);
    expect((await fetch(oldToken.url)).status).toBe(200);
  });

  it('step 1: publishes the new key without signing with it; media picks it up on its next refresh', async () => {
    await stack.setSigningKeys(keySet([oldKey, 'active'], [newKey, 'published']));
    expect(await jwksKids()).toEqual([oldKey.kid, newKey.kid]);
    const still = await mint();
    expect(decodeProtectedHeader(still.token).kid).toBe(oldKey.kid);
    await letMediaRefetch(still.url);
  });

  it('step 2: activates the new key; media verifies it at once, without a restart', async () => {
    await stack.setSigningKeys(keySet([oldKey, 'published'], [newKey, 'active']));
    const fresh = await mint();
    expect(decodeProtectedHeader(fresh.token).kid).toBe(newKey.kid);
    const res = await fetch(fresh.url);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    // Tokens the old key signed before the switch keep working while it stays published.
    const old = await fetch(oldToken.url);
    expect(old.status).toBe(200);
    await old.arrayBuffer();
  });

  it('step 3: retires the old key; once media refreshes, tokens it signed stop verifying', async () => {
    await stack.setSigningKeys(keySet([oldKey, 'retired'], [newKey, 'active']));
    expect(await jwksKids()).toEqual([newKey.kid]);
    const fresh = await mint();
    await letMediaRefetch(fresh.url);
    const old = await fetch(oldToken.url);
    expect(old.status).toBe(401);
    expect(((await old.json()) as { error: string }).error).toBe('invalid_token');
    const current = await fetch(fresh.url);
    expect(current.status).toBe(200);
    await current.arrayBuffer();
  });

  it("the gateway's own cached service token is replaced after the retirement (library still works)", async () => {
    const res = await fetch(`${stack.gatewayUrl}/media/library`, { headers: { cookie: listener.cookie } });
    expect(res.status).toBe(200);
    const { items } = (await res.json()) as { items: { key: string }[] };
    expect(items.map((i) => i.key)).toContain(KEY);
  });
});

describe('why the publish step matters', () => {
  it('a key activated without being published first is refused by media until it refreshes', async () => {
    const hasty = newPrivateJwk('2027-01-hasty');
    const warm = await mint();
    await (await fetch(warm.url)).arrayBuffer();
    await stack.setSigningKeys(keySet([newKey, 'published'], [hasty, 'active']));
    const early = await mint();
    expect(decodeProtectedHeader(early.token).kid).toBe(hasty.kid);
    const refused = await fetch(early.url);
    expect(refused.status).toBe(401);
    await refused.arrayBuffer();
    letMediaKeysGoStale();
    const later = await fetch(early.url);
    expect(later.status).toBe(200);
    await later.arrayBuffer();
  });
});
