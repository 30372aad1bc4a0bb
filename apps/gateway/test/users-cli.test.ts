/** The users CLI against the real Redis: add (password from stdin), set-role, refusals. */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runUsersCommand } from '../src/cli/users-command.js';
import {
  buildTestApp,
  deletePrefix,
  login,
  randomPrefix,
  TEST_REDIS_URL,
  testConfig,
  testRedis,
} from './support/gateway.js';

describe('users CLI', () => {
  const prefix = randomPrefix();
  let redis: Redis;
  beforeAll(() => {
    redis = testRedis();
  });
  afterAll(async () => {
    await deletePrefix(redis, prefix);
    redis.disconnect();
  });

  function run(
    argv: string[],
    env: Record<string, string> = { REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: prefix },
    password = 'cli-password-123',
  ) {
    const out: string[] = [];
    const err: string[] = [];
    return runUsersCommand(argv, {
      env,
      readPassword: async () => password,
      out: (l) => out.push(l),
      err: (l) => err.push(l),
    }).then((code) => ({ code, out: out.join('\n'), err: err.join('\n') }));
  }

  it('adds a user who can then sign in, and sets their role', async () => {
    const added = await run(['add', '--email', 'Cli@Example.com', '--name', 'Cli User']);
    expect(added).toMatchObject({
      code: 0,
      out: expect.stringMatching(/added cli@example.com \(user\) with id usr_/),
    });
    expect(added.out).not.toContain('cli-password-123');
    const app = await buildTestApp(testConfig('redis', { DEMO_FIXTURES: 'false' }, prefix));
    try {
      const s = await login(app, 'cli@example.com', 'cli-password-123');
      expect(s.response.json().user.role).toBe('user');
      expect(await run(['set-role', '--email', 'cli@example.com', '--role', 'admin'])).toMatchObject({
        code: 0,
      });
      const me = await app.inject({ method: 'GET', url: '/auth/me', headers: { cookie: s.cookie } });
      expect(me.json().user.role).toBe('admin');
    } finally {
      await app.close();
    }
  });

  it('refuses a duplicate email, a bad role, a short password, an unknown user', async () => {
    await run(['add', '--email', 'dup@example.com', '--name', 'D']);
    expect((await run(['add', '--email', 'DUP@example.com', '--name', 'D'])).code).toBe(65);
    expect((await run(['add', '--email', 'x@example.com', '--name', 'X', '--role', 'root'])).code).toBe(64);
    expect((await run(['add', '--email', 'y@example.com', '--name', 'Y'], undefined, 'short')).err).toMatch(
      /at least 8/,
    );
    expect((await run(['set-role', '--email', 'nobody@example.com', '--role', 'admin'])).code).toBe(65);
    expect((await run(['frobnicate'])).code).toBe(64);
  });

  it('refuses to run without REDIS_URL, saying why', async () => {
    const res = await run(['add', '--email', 'z@example.com', '--name', 'Z'], {});
    expect(res.code).toBe(78);
    expect(res.err).toMatch(/REDIS_URL is not set/);
  });
});
