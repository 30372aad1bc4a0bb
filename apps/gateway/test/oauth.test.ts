import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash } from '@node-rs/argon2';
import { DEMO_SERVICE_CLIENT } from '@stagedoor/shared/demo';
import { ConfigError } from '@stagedoor/shared/env';
import { MEDIA_AUDIENCE } from '@stagedoor/shared/tokens';
import type { FastifyInstance } from 'fastify';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadGatewayConfig } from '../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'sd-gw-oauth-'));
const clientsFile = join(dir, 'clients.json');
// An id and a secret with characters that RFC 6749 §2.3.1 form-encodes inside Basic credentials.
const READER = { id: 'indexer.v2~a', secret: 'p:a ss+w%rd' };
const MACHINE = { id: 'uploader', secret: 'bWFjaGluZS1nZW5lcmF0ZWQtMjU2LWJpdC1zZWNyZXQ' };
const VICTIM = { id: 'victim', secret: 'dmljdGltLW1hY2hpbmUtZ2VuZXJhdGVkLXNlY3JldA' };
const sha256Hash = (secret: string) => `sha256:${createHash('sha256').update(secret).digest('hex')}`;

const formEncode = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${formEncode(id)}:${formEncode(secret)}`).toString('base64')}`;
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

let app: FastifyInstance;

beforeAll(async () => {
  writeFileSync(
    clientsFile,
    JSON.stringify({
      clients: [
        { id: READER.id, secretHash: await hash(READER.secret), scopes: ['media:read', 'media:list'] },
        { id: MACHINE.id, secretHash: sha256Hash(MACHINE.secret), scopes: ['media:write'] },
        { id: VICTIM.id, secretHash: sha256Hash(VICTIM.secret), scopes: ['media:read'] },
      ],
    }),
  );
  app = await buildApp(
    loadGatewayConfig({
      DATA_DIR: dir,
      SERVICE_CLIENTS_FILE: clientsFile,
      LOGIN_MAX_FAILURES_PER_ACCOUNT: '3',
      GATEWAY_PUBLIC_URL: 'http://gw.test:8080',
    }),
    { logger: false },
  );
});
afterAll(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

function tokenRequest(body: Record<string, string>, headers: Record<string, string> = {}) {
  return app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { ...FORM, ...headers },
    payload: form(body),
  });
}

function expectNoStore(res: { headers: Record<string, unknown> }) {
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.headers.pragma).toBe('no-cache');
}

describe('POST /oauth/token: issuing', () => {
  it('issues an RFC 9068 token to a client authenticated with Basic, with every allowed scope', async () => {
    const res = await tokenRequest(
      { grant_type: 'client_credentials' },
      { authorization: basic(READER.id, READER.secret) },
    );
    expect(res.statusCode).toBe(200);
    expectNoStore(res);
    const body = res.json();
    expect(body).toEqual({
      access_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: 300,
      scope: 'media:read media:list',
    });
    expect(decodeProtectedHeader(body.access_token)).toMatchObject({ typ: 'at+jwt', alg: 'EdDSA' });
    const jwks = createLocalJWKSet((await app.inject({ url: '/.well-known/jwks.json' })).json());
    const { payload } = await jwtVerify(body.access_token, jwks, {
      issuer: 'http://gw.test:8080',
      audience: MEDIA_AUDIENCE,
      typ: 'at+jwt',
    });
    expect(payload).toMatchObject({ sub: READER.id, client_id: READER.id, scope: 'media:read media:list' });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(300);
    expect(payload.jti).toEqual(expect.any(String));
  });

  it('accepts form-field authentication and a narrower scope', async () => {
    const res = await tokenRequest({
      grant_type: 'client_credentials',
      client_id: READER.id,
      client_secret: READER.secret,
      scope: 'media:list',
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().scope).toBe('media:list');
  });

  it('checks a sha256 client secret', async () => {
    const ok = await tokenRequest(
      { grant_type: 'client_credentials' },
      { authorization: basic(MACHINE.id, MACHINE.secret) },
    );
    expect(ok.statusCode).toBe(200);
    expect(ok.json().scope).toBe('media:write');
    const bad = await tokenRequest(
      { grant_type: 'client_credentials' },
      { authorization: basic(MACHINE.id, `${MACHINE.secret}x`) },
    );
    expect(bad.statusCode).toBe(401);
  });

  it('knows the demo client when demo fixtures are on', async () => {
    const res = await tokenRequest(
      { grant_type: 'client_credentials' },
      { authorization: basic(DEMO_SERVICE_CLIENT.id, DEMO_SERVICE_CLIENT.secret) },
    );
    expect(res.statusCode).toBe(200);
    expect(res.json().scope).toBe('media:read media:list media:write');
  });
});

describe('POST /oauth/token: refusals (RFC 6749 §5.2)', () => {
  it('a wrong secret is 401 invalid_client, with a Basic challenge when Basic was used', async () => {
    const res = await tokenRequest(
      { grant_type: 'client_credentials' },
      { authorization: basic(DEMO_SERVICE_CLIENT.id, 'wrong') },
    );
    expect(res.statusCode).toBe(401);
    expectNoStore(res);
    expect(res.headers['www-authenticate']).toMatch(/^Basic/);
    expect(res.json()).toEqual({ error: 'invalid_client', error_description: expect.any(String) });

    const viaForm = await tokenRequest({
      grant_type: 'client_credentials',
      client_id: DEMO_SERVICE_CLIENT.id,
      client_secret: 'wrong',
    });
    expect(viaForm.statusCode).toBe(401);
    expect(viaForm.json().error).toBe('invalid_client');
    expect(viaForm.headers['www-authenticate']).toBeUndefined();
  });

  it('an unknown client and a missing authentication are invalid_client', async () => {
    const unknown = await tokenRequest({
      grant_type: 'client_credentials',
      client_id: 'nobody',
      client_secret: 'x',
    });
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json().error).toBe('invalid_client');
    const none = await tokenRequest({ grant_type: 'client_credentials' });
    expect(none.statusCode).toBe(401);
    expect(none.json().error).toBe('invalid_client');
  });

  it('two authentication methods at once are invalid_request', async () => {
    const res = await tokenRequest(
      { grant_type: 'client_credentials', client_id: READER.id, client_secret: READER.secret },
      { authorization: basic(READER.id, READER.secret) },
    );
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_request');
  });

  it('another grant type is unsupported_grant_type; none at all is invalid_request', async () => {
    const auth = { authorization: basic(READER.id, READER.secret) };
    const password = await tokenRequest({ grant_type: 'password', username: 'a', password: 'b' }, auth);
    expect(password.statusCode).toBe(400);
    expect(password.json().error).toBe('unsupported_grant_type');
    expectNoStore(password);
    const missing = await tokenRequest({}, auth);
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error).toBe('invalid_request');
  });

  it('a scope the client may not have, or an unknown one, is invalid_scope', async () => {
    const auth = { authorization: basic(READER.id, READER.secret) };
    const wider = await tokenRequest(
      { grant_type: 'client_credentials', scope: 'media:list media:write' },
      auth,
    );
    expect(wider.statusCode).toBe(400);
    expect(wider.json().error).toBe('invalid_scope');
    const unknown = await tokenRequest({ grant_type: 'client_credentials', scope: 'media:admin' }, auth);
    expect(unknown.json().error).toBe('invalid_scope');
    const empty = await tokenRequest({ grant_type: 'client_credentials', scope: ' ' }, auth);
    expect(empty.json().error).toBe('invalid_scope');
  });

  it('a repeated parameter or a JSON body is invalid_request', async () => {
    const auth = { authorization: basic(READER.id, READER.secret) };
    const repeated = await app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { ...FORM, ...auth },
      payload: 'grant_type=client_credentials&grant_type=client_credentials',
    });
    expect(repeated.statusCode).toBe(400);
    expect(repeated.json().error).toBe('invalid_request');
    const json = await app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/json', ...auth },
      payload: { grant_type: 'client_credentials' },
    });
    expect(json.statusCode).toBe(400);
    expect(json.json()).toEqual({ error: 'invalid_request', error_description: expect.any(String) });
  });

  it('a cross-site browser POST is refused by the Origin check', async () => {
    const res = await tokenRequest(
      { grant_type: 'client_credentials' },
      { authorization: basic(READER.id, READER.secret), origin: 'https://evil.example' },
    );
    expect(res.statusCode).toBe(403);
    expect(res.json().error).toBe('invalid_request');
  });

  it('never puts a secret or a token in the answer of a failure', async () => {
    const res = await tokenRequest({
      grant_type: 'client_credentials',
      client_id: READER.id,
      client_secret: 'leak-me',
    });
    expect(res.body).not.toContain('leak-me');
  });
});

describe('POST /oauth/token: failed authentications are rate-limited', () => {
  it('after the limit, even the right secret waits, with Retry-After; other clients are not affected', async () => {
    const victim = VICTIM;
    for (let i = 0; i < 3; i++) {
      const res = await tokenRequest(
        { grant_type: 'client_credentials' },
        { authorization: basic(victim.id, 'guess') },
      );
      expect(res.statusCode).toBe(401);
    }
    const blocked = await tokenRequest(
      { grant_type: 'client_credentials' },
      { authorization: basic(victim.id, victim.secret) },
    );
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect(blocked.json().error).toBe('too_many_attempts');
    expectNoStore(blocked);
    const other = await tokenRequest(
      { grant_type: 'client_credentials' },
      { authorization: basic(READER.id, READER.secret) },
    );
    expect(other.statusCode).toBe(200);
  });
});

describe('SERVICE_CLIENTS_FILE validation', () => {
  it('refuses a bad file at start-up, listing every problem', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({
        clients: [
          { id: 'a', secretHash: 'plaintext', scopes: ['media:read'] },
          { id: 'gateway', secretHash: `sha256:${'0'.repeat(64)}`, scopes: ['media:list'] },
          { id: 'b', secretHash: `sha256:${'0'.repeat(64)}`, scopes: ['media:admin'] },
        ],
      }),
    );
    const attempt = buildApp(loadGatewayConfig({ DATA_DIR: dir, SERVICE_CLIENTS_FILE: bad }), {
      logger: false,
    });
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toThrow(/secretHash[\s\S]*reserved[\s\S]*scopes/);
  });
});
