/**
 * `users` CLI: add, list, set a role, disable and re-enable users, against the Redis the gateway uses
 * (`REDIS_URL`, `REDIS_PREFIX`). The memory store lives inside one gateway process, so without REDIS_URL
 * there is nothing to edit.
 *
 *   node apps/gateway/dist/cli/users.js add --email a@example.com --name "A" [--role user|admin]
 *   node apps/gateway/dist/cli/users.js set-role --email a@example.com --role admin
 *   node apps/gateway/dist/cli/users.js list
 *   node apps/gateway/dist/cli/users.js disable --email a@example.com   (also ends all their sessions)
 *   node apps/gateway/dist/cli/users.js enable --email a@example.com
 *
 * `add` reads the password from stdin (one line) when stdin is not a terminal, else prompts without echo;
 * it is never taken from the command line, where `ps` and shell history would keep it.
 */
import { parseArgs } from 'node:util';
import { type Env, EnvReader } from '@stagedoor/shared/env';
import { DEFAULT_MEDIA_TOKEN_TTL_SECONDS, MAX_MEDIA_TOKEN_TTL_SECONDS } from '@stagedoor/shared/tokens';
import { UserDirectory } from '../plugins/users.js';
import { createRedisClient } from '../stores/redis-client.js';
import { RedisRevocationStore } from '../stores/redis-revocation-store.js';
import { RedisSessionStore } from '../stores/redis-session-store.js';
import { RedisUserStore } from '../stores/redis-user-store.js';
import { revocationsOf } from '../stores/revocation-store.js';
import { EmailTakenError, ROLES, type Role } from '../stores/user-directory.js';

export const USAGE = `usage:
  users add --email <email> --name <name> [--role user|admin]   (password from stdin or a prompt)
  users set-role --email <email> --role user|admin
  users list
  users disable --email <email>     (refuses their sign-in and ends all their sessions)
  users enable --email <email>
environment: REDIS_URL (required), REDIS_CLUSTER, REDIS_PREFIX (default sd:), ARGON2_MEMORY_KIB, ARGON2_TIME_COST,
MEDIA_TOKEN_TTL_SECONDS (default 300: how long a disabled user's sessions stay revoked at media)`;

export interface CliIo {
  env: Env;
  readPassword: () => Promise<string>;
  out: (line: string) => void;
  err: (line: string) => void;
}

/** Runs the command; resolves to the process exit code. */
export async function runUsersCommand(argv: string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    io.err(`${(error as Error).message}\n${USAGE}`);
    return 64;
  }
  const { command, values } = parsed;
  const env = new EnvReader(io.env);
  const redisUrl = env.url('REDIS_URL');
  const prefix = env.string('REDIS_PREFIX', 'sd:');
  const cluster = env.bool('REDIS_CLUSTER', false);
  const memoryCost = env.int('ARGON2_MEMORY_KIB', 19_456, { min: 19_456, max: 4 * 1024 * 1024 });
  const timeCost = env.int('ARGON2_TIME_COST', 2, { min: 2, max: 100 });
  const mediaTokenTtlSeconds = env.int('MEDIA_TOKEN_TTL_SECONDS', DEFAULT_MEDIA_TOKEN_TTL_SECONDS, {
    min: 1,
    max: MAX_MEDIA_TOKEN_TTL_SECONDS,
  });
  if (redisUrl === undefined) {
    env.problem(
      'REDIS_URL is not set: without Redis the gateway keeps users in its own process memory, which no other process can change (demo users are seeded at start-up instead)',
    );
  }
  if (env.problems.length > 0) {
    io.err(env.problems.join('\n'));
    return 78;
  }
  const role = values.role as Role | undefined;
  if (role !== undefined && !ROLES.includes(role)) {
    io.err(`--role must be one of: ${ROLES.join(', ')}`);
    return 64;
  }
  if (!values.email && command !== 'list') {
    io.err(`--email is required\n${USAGE}`);
    return 64;
  }
  const email = values.email ?? '';
  const redis = createRedisClient(String(redisUrl), cluster, { lazyConnect: true, connectTimeout: 5_000 });
  redis.on('error', () => undefined);
  let users: UserDirectory | undefined;
  try {
    try {
      await redis.connect();
    } catch (error) {
      io.err(`cannot reach Redis at ${redactRedisUrl(String(redisUrl))}: ${(error as Error).message}`);
      return 69;
    }
    users = new UserDirectory(new RedisUserStore(redis, prefix), {
      memoryCost,
      timeCost,
      parallelism: 1,
    });
    if (command === 'add') {
      if (!values.name) {
        io.err(`--name is required\n${USAGE}`);
        return 64;
      }
      const password = await io.readPassword();
      try {
        const user = await users.create({
          email,
          name: values.name,
          role: role ?? 'user',
          password,
        });
        io.out(`added ${user.email} (${user.role}) with id ${user.id}`);
        return 0;
      } catch (error) {
        io.err(
          error instanceof EmailTakenError ? error.message : `cannot add user: ${(error as Error).message}`,
        );
        return 65;
      }
    }
    if (command === 'list') {
      for (const user of await users.list()) {
        io.out(
          `${user.id}\t${user.email}\t${user.role}\t${user.disabled ? 'disabled' : 'enabled'}\t${user.name}`,
        );
      }
      return 0;
    }
    if (command === 'set-role' && role === undefined) {
      io.err(`--role is required\n${USAGE}`);
      return 64;
    }
    const user = await users.findByEmail(email);
    if (!user) {
      io.err(`no user with email ${email}`);
      return 65;
    }
    if (command === 'set-role') {
      await users.setRole(user.id, role as Role);
      io.out(`${user.email} is now ${role}`);
      return 0;
    }
    const disable = command === 'disable';
    if (!(await users.setDisabled(user.id, disable))) {
      io.err(`no user with email ${email}`);
      return 65;
    }
    if (!disable) {
      io.out(`${user.email} is enabled`);
      return 0;
    }
    // Through the session store, as the gateway's admin route does (idle timeout: not needed to delete),
    // and revoked like every session end, so media refuses their tokens and their pages sign out.
    const ended = await new RedisSessionStore(redis, prefix, 1000).destroyAllForUser(user.id);
    const revocations = new RedisRevocationStore(redis, prefix, { warn: () => undefined });
    try {
      await revocations.publish(revocationsOf(ended, 'disabled', mediaTokenTtlSeconds));
    } finally {
      await revocations.close();
    }
    io.out(`${user.email} is disabled; ${ended.length} session(s) ended`);
    return 0;
  } finally {
    await users?.close();
    redis.disconnect();
  }
}

function parse(argv: string[]) {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { email: { type: 'string' }, name: { type: 'string' }, role: { type: 'string' } },
  });
  const command = positionals[0];
  if (!isCommand(command)) throw new Error(`unknown command "${command ?? ''}"`);
  if (positionals.length > 1) throw new Error(`unexpected argument "${positionals[1]}"`);
  return { command, values };
}

const COMMANDS = ['add', 'set-role', 'list', 'disable', 'enable'] as const;
type Command = (typeof COMMANDS)[number];

function isCommand(command: string | undefined): command is Command {
  return (COMMANDS as readonly (string | undefined)[]).includes(command);
}

function redactRedisUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
