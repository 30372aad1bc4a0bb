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

  it('lists users, disables one (ending their sessions, refusing sign-in) and enables them again', async () => {
    await run(['add', '--email', 'switch@example.com', '--name', 'Switch Me']);
    const app = await buildTestApp(testConfig('redis', { DEMO_FIXTURES: 'false' }, prefix));
    try {
      const s = await login(app, 'switch@example.com', 'cli-password-123');
      const id = s.response.json().user.id as string;
      const listed = await run(['list']);
      expect(listed.code).toBe(0);
      expect(listed.out.split('\n')).toContain(`${id}\tswitch@example.com\tuser\tenabled\tSwitch Me`);
      expect(listed.out).not.toMatch(/argon2/);

      expect(await run(['disable', '--email', 'SWITCH@example.com'])).toMatchObject({
        code: 0,
        out: 'switch@example.com is disabled; 1 session(s) ended',
      });
      const me = await app.inject({ method: 'GET', url: '/auth/me', headers: { cookie: s.cookie } });
      expect(me.statusCode).toBe(401);
      expect(await app.sessionStore.listForUser(id)).toEqual([]);
      const refused = await app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: 'switch@example.com', password: 'cli-password-123' },
      });
      expect(refused.statusCode).toBe(401);
      expect(refused.json().error).toBe('invalid_credentials');
      expect((await run(['list'])).out).toContain(`${id}\tswitch@example.com\tuser\tdisabled\tSwitch Me`);

      expect(await run(['enable', '--email', 'switch@example.com'])).toMatchObject({
        code: 0,
        out: 'switch@example.com is enabled',
      });
      await login(app, 'switch@example.com', 'cli-password-123');
      expect((await run(['disable', '--email', 'nobody@example.com'])).code).toBe(65);
      expect((await run(['enable'])).code).toBe(64);
    } finally {
      await app.close();
    }
  });

  it('refuses to run without REDIS_URL, saying why', async () => {
    const res = await run(['add', '--email', 'z@example.com', '--name', 'Z'], {});
    expect(res.code).toBe(78);
    expect(res.err).toMatch(/REDIS_URL is not set/);
  });
});
