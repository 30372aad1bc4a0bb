/** Slow and idle clients cannot hold the gateway, and its connections are capped (issue 11 §6; the tests are shared). */
import type { AddressInfo } from 'node:net';
import { serverLimitTests } from '@stagedoor/testkit/server-limits-suite';
import { describe } from 'vitest';
import { buildApp } from '../src/app.js';
import { testConfig } from './support/gateway.js';

describe('gateway server limits', () => {
  serverLimitTests(async (env) => {
    const app = await buildApp(testConfig('memory', env), { logger: false });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return {
      port: (app.server.address() as AddressInfo).port,
      connections: () => new Promise((resolve) => app.server.getConnections((_e, n) => resolve(n))),
      close: () => app.close(),
    };
  });
});
