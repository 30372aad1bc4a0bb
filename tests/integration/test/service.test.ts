/**
 * Service-to-service: OAuth client credentials at the gateway, service tokens at media, the typed media
 * client, and the gateway's own use of it for GET /media/library.
 */
import { randomBytes } from 'node:crypto';
import { MediaClient } from '@stagedoor/media-client';
import { MediaClientError } from '@stagedoor/media-client/errors';
import { cachedTokenSource, clientCredentialsFetcher } from '@stagedoor/media-client/token-source';
import { DEMO_ADMIN, DEMO_LISTENER, DEMO_SERVICE_CLIENT } from '@stagedoor/shared/demo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keySet, newPrivateJwk } from '../src/keys.js';
import {
  type BrowserSession,
  basicAuth,
  mintToken,
  type Stack,
  serviceToken,
  signIn,
  startStack,
} from '../src/stack.js';

const DEMO = DEMO_SERVICE_CLIENT;
let stack: Stack;
let listener: BrowserSession;

beforeAll(async () => {
  stack = await startStack({ signingKeys: keySet([newPrivateJwk('k1'), 'active']) });
  await stack.putObject('catalog/alpha_song.wav', randomBytes(1500), 'audio/wav');
  await stack.putObject('catalog/beta-song.mp3', randomBytes(2500), 'audio/mpeg');
  await stack.putObject(`users/${DEMO_LISTENER.id}/my_mix.wav`, randomBytes(500), 'audio/wav');
  await stack.putObject(`users/${DEMO_ADMIN.id}/admin_only.wav`, randomBytes(700), 'audio/wav');
  listener = await signIn(stack.gatewayUrl);
});
afterAll(async () => stack?.close());

function tokenRequest(body: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(`${stack.gatewayUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(body),
  });
}

describe('POST /oauth/token against the live gateway', () => {
  it('Basic and form authentication both give a token media accepts', async () => {
    const basic = await tokenRequest(
      { grant_type: 'client_credentials', scope: 'media:list' },
      { authorization: basicAuth(DEMO.id, DEMO.secret) },
    );
    expect(basic.status).toBe(200);
    expect(basic.headers.get('cache-control')).toBe('no-store');
    const viaForm = await tokenRequest({
      grant_type: 'client_credentials',
      client_id: DEMO.id,
      client_secret: DEMO.secret,
      scope: 'media:list',
    });
    expect(viaForm.status).toBe(200);
    for (const res of [basic, viaForm]) {
      const { access_token } = (await res.json()) as { access_token: string };
      const list = await fetch(`${stack.mediaUrl}/v1/catalog?prefix=catalog/`, {
        headers: { authorization: `Bearer ${access_token}` },
      });
      expect(list.status).toBe(200);
      const body = (await list.json()) as { items: { key: string }[] };
      expect(body.items.map((i) => i.key).sort()).toEqual([
        'catalog/alpha_song.wav',
        'catalog/beta-song.mp3',
      ]);
    }
  });

  it('a wrong client secret is 401 invalid_client', async () => {
    const res = await tokenRequest(
      { grant_type: 'client_credentials' },
      { authorization: basicAuth(DEMO.id, 'nope') },
    );
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect(await res.json()).toEqual({ error: 'invalid_client', error_description: expect.any(String) });
  });

  it('an unknown scope is invalid_scope; another grant is unsupported_grant_type', async () => {
    const auth = { authorization: basicAuth(DEMO.id, DEMO.secret) };
    const scope = await tokenRequest({ grant_type: 'client_credentials', scope: 'media:delete' }, auth);
    expect(scope.status).toBe(400);
    expect(((await scope.json()) as { error: string }).error).toBe('invalid_scope');
    const grant = await tokenRequest({ grant_type: 'authorization_code', code: 'x' }, auth);
    expect(grant.status).toBe(400);
    expect(((await grant.json()) as { error: string }).error).toBe('unsupported_grant_type');
  });
});

describe('media with service tokens', () => {
  it('a media token used as a service token on /v1/catalog is refused', async () => {
    const { token } = (await (
      await mintToken(stack.gatewayUrl, listener, { prefix: 'catalog/' })
    ).json()) as {
      token: string;
    };
    const res = await fetch(`${stack.mediaUrl}/v1/catalog?prefix=catalog/`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect([401, 403]).toContain(res.status);
  });

  it('a service token with media:read may GET an object; without it, 403', async () => {
    const reader = await serviceToken(stack.gatewayUrl, DEMO.id, DEMO.secret, 'media:read');
    const ok = await fetch(`${stack.mediaUrl}/v1/objects/catalog/alpha_song.wav`, {
      headers: { authorization: `Bearer ${reader}` },
    });
    expect(ok.status).toBe(200);
    expect((await ok.arrayBuffer()).byteLength).toBe(1500);
    const lister = await serviceToken(stack.gatewayUrl, DEMO.id, DEMO.secret, 'media:list');
    const refused = await fetch(`${stack.mediaUrl}/v1/objects/catalog/alpha_song.wav`, {
      headers: { authorization: `Bearer ${lister}` },
    });
    expect(refused.status).toBe(403);
  });

  it('a service token without media:list may not list (403)', async () => {
    const reader = await serviceToken(stack.gatewayUrl, DEMO.id, DEMO.secret, 'media:read');
    const res = await fetch(`${stack.mediaUrl}/v1/catalog?prefix=catalog/`, {
      headers: { authorization: `Bearer ${reader}` },
    });
    expect(res.status).toBe(403);
  });

  it('a service token cannot be used where a media token URL is expected without media:read', async () => {
    const writer = await serviceToken(stack.gatewayUrl, DEMO.id, DEMO.secret, 'media:write');
    const res = await fetch(`${stack.mediaUrl}/v1/t/${writer}/catalog/alpha_song.wav`);
    expect([401, 403]).toContain(res.status);
  });
});

describe('the typed media client with a token from /oauth/token', () => {
  it('lists, heads and uploads; refreshes nothing it does not need', async () => {
    let fetched = 0;
    const fetcher = clientCredentialsFetcher({
      tokenUrl: `${stack.gatewayUrl}/oauth/token`,
      clientId: DEMO.id,
      clientSecret: DEMO.secret,
    });
    const client = new MediaClient({
      baseUrl: stack.mediaUrl,
      tokens: cachedTokenSource(async (signal) => {
        fetched++;
        return fetcher(signal);
      }),
    });
    const page = await client.listCatalog({ prefix: 'catalog/' });
    expect(page.items.map((i) => i.key).sort()).toEqual(['catalog/alpha_song.wav', 'catalog/beta-song.mp3']);
    expect(page.nextCursor).toBeNull();
    const head = await client.headObject('catalog/beta-song.mp3');
    expect(head).toMatchObject({ size: 2500, contentType: 'audio/mpeg' });
    expect(await client.headObject('catalog/missing.wav')).toBeNull();
    const put = await client.putObject('catalog/uploaded take.wav', randomBytes(4096), 'audio/wav');
    expect(put).toMatchObject({ key: 'catalog/uploaded take.wav', size: 4096 });
    expect((await client.headObject('catalog/uploaded take.wav'))?.contentType).toBe('audio/wav');
    expect(fetched).toBe(1);
  });

  it('uploads a stream body with its length', async () => {
    const client = new MediaClient({
      baseUrl: stack.mediaUrl,
      tokens: cachedTokenSource(
        clientCredentialsFetcher({
          tokenUrl: `${stack.gatewayUrl}/oauth/token`,
          clientId: DEMO.id,
          clientSecret: DEMO.secret,
          scope: 'media:write media:read',
        }),
      ),
    });
    const bytes = randomBytes(300_000);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 65_536) controller.enqueue(bytes.subarray(i, i + 65_536));
        controller.close();
      },
    });
    const put = await client.putObject('catalog/streamed.wav', body, 'audio/wav', {
      contentLength: bytes.length,
    });
    expect(put.size).toBe(bytes.length);
    expect((await client.headObject('catalog/streamed.wav'))?.size).toBe(bytes.length);
  });

  it('fails with a typed error when its client is refused a scope', async () => {
    const client = new MediaClient({
      baseUrl: stack.mediaUrl,
      tokens: cachedTokenSource(
        clientCredentialsFetcher({
          tokenUrl: `${stack.gatewayUrl}/oauth/token`,
          clientId: DEMO.id,
          clientSecret: DEMO.secret,
          scope: 'media:read',
        }),
      ),
    });
    const error = await client.listCatalog({ prefix: 'catalog/' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MediaClientError);
    expect((error as MediaClientError).code).toBe('forbidden');
  });
});

describe('GET /media/library', () => {
  it('lists the catalog and the caller’s own items, not another user’s', async () => {
    const res = await fetch(`${stack.gatewayUrl}/media/library`, { headers: { cookie: listener.cookie } });
    expect(res.status).toBe(200);
    const { items } = (await res.json()) as {
      items: { key: string; title: string; contentType: string; size: number }[];
    };
    const keys = items.map((i) => i.key);
    expect(keys).toContain('catalog/alpha_song.wav');
    expect(keys).toContain('catalog/beta-song.mp3');
    expect(keys).toContain(`users/${DEMO_LISTENER.id}/my_mix.wav`);
    expect(keys.some((k) => k.startsWith(`users/${DEMO_ADMIN.id}/`))).toBe(false);
    expect(items.find((i) => i.key === 'catalog/beta-song.mp3')).toEqual({
      key: 'catalog/beta-song.mp3',
      title: 'beta song',
      contentType: 'audio/mpeg',
      size: 2500,
    });

    const admin = await signIn(stack.gatewayUrl, DEMO_ADMIN.email, DEMO_ADMIN.password);
    const adminItems = (await (
      await fetch(`${stack.gatewayUrl}/media/library`, { headers: { cookie: admin.cookie } })
    ).json()) as { items: { key: string }[] };
    const adminKeys = adminItems.items.map((i) => i.key);
    expect(adminKeys).toContain(`users/${DEMO_ADMIN.id}/admin_only.wav`);
    expect(adminKeys.some((k) => k.startsWith(`users/${DEMO_LISTENER.id}/`))).toBe(false);
  });

  it('is 503 media_unavailable once media is down', async () => {
    await stack.media.close();
    const started = Date.now();
    const res = await fetch(`${stack.gatewayUrl}/media/library`, { headers: { cookie: listener.cookie } });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: string }).error).toBe('media_unavailable');
    expect(Date.now() - started).toBeLessThan(4000);
  });
});
