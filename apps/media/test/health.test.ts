import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadMediaConfig } from '../src/config.js';

describe('media skeleton', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildApp(loadMediaConfig({ REVOCATION_FEED_URL: 'off' }), { logger: false });
  });
  afterAll(async () => app.close());

  it('answers /healthz', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
  });

  it('refuses production without storage credentials, listing every problem', () => {
    expect(() => loadMediaConfig({ NODE_ENV: 'production', S3_FORCE_PATH_STYLE: 'perhaps' })).toThrow(
      /S3_ACCESS_KEY_ID[\s\S]*S3_FORCE_PATH_STYLE/,
    );
  });
});
