import { DEMO_ADMIN, DEMO_LISTENER } from '@stagedoor/shared/demo';
import { MEDIA_AUDIENCE } from '@stagedoor/shared/tokens';
import type { FastifyInstance } from 'fastify';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createMediaEntitlementPolicy,
  DEFAULT_MEDIA_RULES,
  type EntitlementRule,
} from '../src/policy/media-entitlement.js';
import { buildTestApp, login, me, type SignedIn, testConfig } from './support/gateway.js';

const listenerId = DEMO_LISTENER.id;

let app: FastifyInstance;
let listener: SignedIn;

function mint(who: SignedIn, body: unknown, target = app) {
  return target.inject({
    method: 'POST',
    url: '/media/tokens',
    headers: { cookie: who.cookie, 'x-csrf-token': who.csrfToken },
    payload: body as Record<string, unknown>,
  });
}

async function verify(token: string) {
  const jwks = createLocalJWKSet((await app.inject({ url: '/.well-known/jwks.json' })).json());
  return jwtVerify(token, jwks, {
    issuer: 'http://gw.test:8080',
    audience: MEDIA_AUDIENCE,
    typ: 'media+jwt',
    algorithms: ['EdDSA'],
  });
}

beforeAll(async () => {
  app = await buildTestApp(
    testConfig('memory', {
      GATEWAY_PUBLIC_URL: 'http://gw.test:8080',
      MEDIA_PUBLIC_URL: 'https://media.test/base/',
      MEDIA_TOKEN_TTL_SECONDS: '120',
    }),
  );
  listener = await login(app);
});
afterAll(async () => app.close());

describe('POST /media/tokens: minting', () => {
  it('mints a key token with exactly the contract claims, and a URL on MEDIA_PUBLIC_URL', async () => {
    const res = await mint(listener, { key: 'catalog/Night Drive/01 intro.wav' });
    expect(res.statusCode).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['expiresAt', 'token', 'url']);
    expect(body.url).toBe(
      `https://media.test/base/v1/objects/catalog/Night%20Drive/01%20intro.wav?token=${body.token}`,
    );
    const header = decodeProtectedHeader(body.token);
    expect(header).toEqual({ alg: 'EdDSA', kid: app.signingKeys.active().kid, typ: 'media+jwt' });
    const { payload } = await verify(body.token);
    const session = (await me(app, listener.cookie)).json().session;
    expect(Object.keys(payload).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'jti', 'key', 'sid', 'sub']);
    expect(payload).toMatchObject({
      iss: 'http://gw.test:8080',
      aud: MEDIA_AUDIENCE,
      sub: listenerId,
      sid: session.id,
      key: 'catalog/Night Drive/01 intro.wav',
    });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(120);
    expect(body.expiresAt).toBe(new Date((payload.exp ?? 0) * 1000).toISOString());
    expect(body.expiresAt).toMatch(/Z$/);
  });

  it('gives every token its own jti', async () => {
    const a = await verify((await mint(listener, { key: 'catalog/a.wav' })).json().token);
    const b = await verify((await mint(listener, { key: 'catalog/a.wav' })).json().token);
    expect(a.payload.jti).not.toBe(b.payload.jti);
  });

  it('mints a prefix token whose URL carries the token as a path segment', async () => {
    const res = await mint(listener, { prefix: 'catalog/' });
    expect(res.statusCode).toBe(201);
    const { token, url } = res.json();
    expect(url).toBe(`https://media.test/base/v1/t/${token}/catalog/`);
    const { payload } = await verify(token);
    expect(payload.prefix).toBe('catalog/');
    expect(payload.key).toBeUndefined();
  });

  it("mints for the caller's own private area, by key and by prefix", async () => {
    expect((await mint(listener, { key: `users/${listenerId}/mix.wav` })).statusCode).toBe(201);
    expect((await mint(listener, { prefix: `users/${listenerId}/` })).statusCode).toBe(201);
    expect((await mint(listener, { prefix: `users/${listenerId}/live/` })).statusCode).toBe(201);
  });
});

describe('POST /media/tokens: refusals', () => {
  it.each([
    [{ key: `users/${DEMO_ADMIN.id}/private.wav` }],
    [{ prefix: `users/${DEMO_ADMIN.id}/` }],
    [{ prefix: `users/${listenerId}x/` }],
    [{ key: `users/${listenerId}x/a.wav` }],
    [{ prefix: 'users/' }],
    [{ key: 'admin/report.wav' }],
    [{ key: 'catalog' }],
  ])('%j is 403 forbidden', async (body) => {
    const res = await mint(listener, body);
    expect(res.statusCode).toBe(403);
    expect(res.json().error).toBe('forbidden');
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('an admin gets no other user’s area either', async () => {
    const admin = await login(app, DEMO_ADMIN.email, DEMO_ADMIN.password);
    const res = await mint(admin, { key: `users/${listenerId}/mix.wav` });
    expect(res.statusCode).toBe(403);
  });

  it.each([
    [{ key: 'catalog/../users/x/a.wav' }],
    [{ key: 'catalog//a.wav' }],
    [{ key: '/catalog/a.wav' }],
    [{ key: 'catalog\\a.wav' }],
    [{ key: 'catalog/a\u0000.wav' }],
    [{ key: `catalog/${'a'.repeat(1100)}` }],
    [{ prefix: 'catalog' }],
    [{ prefix: 'catalog/./' }],
  ])('%j is 400 invalid_key', async (body) => {
    const res = await mint(listener, body);
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_key');
  });

  it.each([[{}], [{ key: 'catalog/a.wav', prefix: 'catalog/' }]])(
    '%j is 400 invalid_request',
    async (body) => {
      const res = await mint(listener, body);
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toBe('invalid_request');
    },
  );

  it('needs a session, and the CSRF token', async () => {
    const anonymous = await app.inject({
      method: 'POST',
      url: '/media/tokens',
      payload: { key: 'catalog/a.wav' },
    });
    expect(anonymous.statusCode).toBe(401);
    const noCsrf = await app.inject({
      method: 'POST',
      url: '/media/tokens',
      headers: { cookie: listener.cookie },
      payload: { key: 'catalog/a.wav' },
    });
    expect(noCsrf.statusCode).toBe(403);
    expect(noCsrf.json().error).toBe('csrf_failed');
  });
});

describe('POST /media/tokens: ending a session stops minting at once', () => {
  it('a session revoked from another device cannot mint any more', async () => {
    const laptop = await login(app);
    const phone = await login(app);
    expect((await mint(phone, { key: 'catalog/a.wav' })).statusCode).toBe(201);
    const phoneId = (await me(app, phone.cookie)).json().session.id;
    const revoke = await app.inject({
      method: 'DELETE',
      url: `/auth/sessions/${phoneId}`,
      headers: { cookie: laptop.cookie, 'x-csrf-token': laptop.csrfToken },
    });
    expect(revoke.statusCode).toBe(204);
    const after = await mint(phone, { key: 'catalog/a.wav' });
    expect(after.statusCode).toBe(401);
    expect(after.json().error).toBe('unauthenticated');
    expect((await mint(laptop, { key: 'catalog/a.wav' })).statusCode).toBe(201);
  });

  it('a signed-out session cannot mint', async () => {
    const session = await login(app);
    const out = await app.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: { cookie: session.cookie, 'x-csrf-token': session.csrfToken },
    });
    expect(out.statusCode).toBe(204);
    expect((await mint(session, { key: 'catalog/a.wav' })).statusCode).toBe(401);
  });
});

describe('the entitlement policy', () => {
  it('grants catalog/ and the own area, and takes a new rule without touching the route', () => {
    const subject = { userId: 'u1', role: 'user' };
    const base = createMediaEntitlementPolicy();
    expect(base.prefixesFor(subject)).toEqual(['catalog/', 'users/u1/']);
    expect(base.allows(subject, { kind: 'key', key: 'shared/a.wav' })).toBeNull();
    const shared: EntitlementRule = { name: 'shared-area', prefixes: () => ['shared/'] };
    const extended = createMediaEntitlementPolicy([...DEFAULT_MEDIA_RULES, shared]);
    expect(extended.allows(subject, { kind: 'key', key: 'shared/a.wav' })?.name).toBe('shared-area');
  });

  it('grants nothing for a user id that would break out of users/<id>/', () => {
    const policy = createMediaEntitlementPolicy();
    const subject = { userId: '../catalog', role: 'user' };
    expect(policy.prefixesFor(subject)).toEqual(['catalog/']);
    expect(
      policy.allows({ userId: 'a/b', role: 'user' }, { kind: 'key', key: 'users/a/b/x.wav' }),
    ).toBeNull();
  });
});
