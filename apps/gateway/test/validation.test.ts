/** Malformed JSON, wrong types, missing fields and oversized bodies: 400 invalid_request, readable. */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, DEMO_LISTENER, testConfig } from './support/gateway.js';

describe('request validation', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildTestApp(testConfig('memory'));
  });
  afterAll(async () => app.close());

  const post = (payload: string, contentType = 'application/json') =>
    app.inject({ method: 'POST', url: '/auth/login', headers: { 'content-type': contentType }, payload });

  it.each([
    ['malformed JSON', '{"email": "a@b.c", "password": ', /not valid JSON/],
    ['a JSON array', '[]', /must be object/],
    [
      'a number for the password',
      JSON.stringify({ email: DEMO_LISTENER.email, password: 123 }),
      /password.*string/,
    ],
    ['a missing password', JSON.stringify({ email: DEMO_LISTENER.email }), /password/],
    ['an empty body', '', /empty/],
  ])('%s → 400 invalid_request', async (_name, payload, message) => {
    const res = await post(payload);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'invalid_request', message: expect.stringMatching(message) });
    expect(res.body).not.toMatch(/at .*\.js|node_modules|stack/);
  });

  it('a URL that is not valid percent-encoding → 400 invalid_request, without echoing the URL', async () => {
    const res = await app.inject({ url: '/profile/%zz-private-marker' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      error: 'invalid_request',
      message: expect.stringMatching(/percent-encoded/),
    });
    expect(res.body).not.toContain('private-marker');
  });

  it('an oversized body → 400 invalid_request naming the limit', async () => {
    const res = await post(JSON.stringify({ email: 'a@b.c', password: 'x'.repeat(100_000) }));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      error: 'invalid_request',
      message: expect.stringMatching(/too large.*64 KiB/),
    });
  });

  it('a number password is never coerced into a string that could match', async () => {
    const res = await post(JSON.stringify({ email: DEMO_LISTENER.email, password: ['listener-pass-1234'] }));
    expect(res.statusCode).toBe(400);
  });

  it('every route of the issue is in the OpenAPI description with its responses', async () => {
    const spec = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const paths = spec.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>;
    expect(Object.keys(paths['/auth/login']?.post?.responses ?? {})).toEqual(
      expect.arrayContaining(['200', '400', '401', '429']),
    );
    for (const [path, method] of [
      ['/auth/logout', 'post'],
      ['/auth/logout-all', 'post'],
      ['/auth/me', 'get'],
      ['/auth/sessions', 'get'],
      ['/auth/sessions/{id}', 'delete'],
      ['/admin/users/{userId}/sessions', 'delete'],
      ['/profile/{userId}', 'get'],
      ['/auth/password', 'post'],
      ['/admin/users', 'get'],
      ['/admin/users/{userId}/disable', 'post'],
      ['/admin/users/{userId}/enable', 'post'],
    ] as const) {
      expect(paths[path]?.[method], `${method} ${path}`).toBeDefined();
    }
    expect(Object.keys(paths['/auth/password']?.post?.responses ?? {})).toEqual(
      expect.arrayContaining(['204', '400', '401', '403', '429']),
    );
    expect(Object.keys(paths['/admin/users/{userId}/disable']?.post?.responses ?? {})).toEqual(
      expect.arrayContaining(['204', '403', '404']),
    );
    const listed = paths['/admin/users']?.get?.responses?.['200'] as {
      content: Record<string, { schema: { properties: { users: { items: { required: string[] } } } } }>;
    };
    expect(listed.content['application/json']?.schema.properties.users.items.required.sort()).toEqual([
      'disabled',
      'email',
      'id',
      'name',
      'role',
    ]);
  });
});
