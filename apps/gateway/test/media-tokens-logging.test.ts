import { Writable } from 'node:stream';
import { DEMO_SERVICE_CLIENT } from '@stagedoor/shared/demo';
import { describe, expect, it } from 'vitest';
import { buildApp, loggerOptions } from '../src/app.js';
import { login, testConfig } from './support/gateway.js';

describe('logs of token minting', () => {
  it('never contain a media token, a service token, a client secret or a CSRF token', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const config = testConfig('memory');
    const app = await buildApp(config, {
      logger: { ...(loggerOptions(config) as object), level: 'trace', stream },
    });
    try {
      const session = await login(app);
      const media = await app.inject({
        method: 'POST',
        url: '/media/tokens',
        headers: { cookie: session.cookie, 'x-csrf-token': session.csrfToken },
        payload: { prefix: 'catalog/' },
      });
      expect(media.statusCode).toBe(201);
      const service = await app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: DEMO_SERVICE_CLIENT.id,
          client_secret: DEMO_SERVICE_CLIENT.secret,
        }).toString(),
      });
      expect(service.statusCode).toBe(200);
      const log = lines.join('');
      expect(log).toContain('media token minted');
      for (const secret of [
        media.json().token,
        media.json().token.split('.')[2],
        service.json().access_token.split('.')[2],
        DEMO_SERVICE_CLIENT.secret,
        session.csrfToken,
      ]) {
        expect(log).not.toContain(secret);
      }
    } finally {
      await app.close();
    }
  });
});
