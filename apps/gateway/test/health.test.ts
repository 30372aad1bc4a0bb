import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadGatewayConfig } from '../src/config.js';

describe('gateway skeleton', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildApp(loadGatewayConfig({}), { logger: false });
  });
  afterAll(async () => app.close());

  it('answers /healthz', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('answers unknown routes with the contract error body', async () => {
    const res = await app.inject({ method: 'GET', url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: 'not_found' });
  });

  it('serves an OpenAPI description', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.json().openapi).toMatch(/^3\./);
  });
});

describe('gateway configuration', () => {
  it('refuses production without real secrets, listing every problem', () => {
    expect(() => loadGatewayConfig({ NODE_ENV: 'production', SESSION_IDLE_SECONDS: 'soon' })).toThrow(
      /SESSION_SECRETS is required[\s\S]*SESSION_IDLE_SECONDS[\s\S]*SIGNING_KEYS/,
    );
  });
  it('has no demo fixtures in production', () => {
    const config = loadGatewayConfig({
      NODE_ENV: 'production',
      SESSION_SECRETS: 'x'.repeat(40),
      SIGNING_KEYS_FILE: '/run/secrets/keys.json',
      DEMO_FIXTURES: 'true',
    });
    expect(config.demoFixtures).toBe(false);
    expect(config.session.cookieName).toBe('__Host-sid');
  });
});
