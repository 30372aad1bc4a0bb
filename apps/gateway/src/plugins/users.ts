/**
 * The user directory (`app.users`): lookups, creation, roles, and password verification with Argon2id
 * (`@node-rs/argon2`, whose async functions hash on a worker thread, never on the event loop).
 * Unknown emails are verified against a dummy hash with the same parameters, so an unknown email and a
 * wrong password take about the same time. A hash made with other parameters is replaced on sign-in.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { parseOptions } from '@node-rs/argon2';
import { DEMO_USERS } from '@stagedoor/shared/demo';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { GatewayConfig } from '../config.js';
import { Argon2Pool } from '../passwords/argon2-pool.js';
import {
  EmailTakenError,
  normalizeEmail,
  type PublicUser,
  type Role,
  type StoredUser,
  toPublicUser,
  USER_ID_PATTERN,
  type UserStore,
} from '../stores/user-directory.js';

export interface PasswordParams {
  /** KiB (OWASP minimum for Argon2id: 19456 = 19 MiB). */
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** `Algorithm.Argon2id` of `@node-rs/argon2` (a const enum, which isolatedModules cannot import). */
const ARGON2ID = 2;

export class UserDirectory {
  private dummyHash: string | undefined;

  private readonly hashing: Argon2Pool;

  constructor(
    private readonly store: UserStore,
    private readonly params: PasswordParams,
    maxConcurrentHashes = Math.max(1, availableParallelism() - 1),
  ) {
    this.hashing = new Argon2Pool(maxConcurrentHashes);
  }

  /** Stops the hashing workers. */
  close(): Promise<void> {
    return this.hashing.close();
  }

  async findById(id: string): Promise<PublicUser | null> {
    const user = await this.store.findById(id);
    return user ? toPublicUser(user) : null;
  }

  async findByEmail(email: string): Promise<PublicUser | null> {
    const user = await this.store.findByEmail(normalizeEmail(email));
    return user ? toPublicUser(user) : null;
  }

  /** Creates a user; `id` is `usr_` + 128 random bits unless given (demo fixtures have fixed ids). */
  async create(input: {
    email: string;
    name: string;
    role: Role;
    password: string;
    id?: string;
  }): Promise<PublicUser> {
    const id = input.id ?? `usr_${randomBytes(16).toString('base64url')}`;
    if (!USER_ID_PATTERN.test(id)) throw new Error('user ids are 1-64 characters of A-Z a-z 0-9 _ -');
    const email = normalizeEmail(input.email);
    if (!/^[^@\s]+@[^@\s]+$/.test(email)) throw new Error(`"${input.email}" is not an email address`);
    if (input.password.length < 8) throw new Error('passwords must have at least 8 characters');
    const user: StoredUser = {
      id,
      email,
      name: input.name,
      role: input.role,
      passwordHash: await this.hashPassword(input.password),
      createdAt: Date.now(),
    };
    await this.store.insert(user);
    return toPublicUser(user);
  }

  /** Returns false when no such user exists. */
  async setRole(id: string, role: Role): Promise<boolean> {
    return this.store.update(id, { role });
  }

  /**
   * The user when the email and password match, else null. Always runs one Argon2 verification (against
   * a dummy hash for unknown emails) so timing does not tell which emails exist.
   */
  async verifyPassword(email: string, password: string): Promise<PublicUser | null> {
    const user = await this.store.findByEmail(normalizeEmail(email));
    if (!user) {
      const dummy = await this.getDummyHash();
      await this.hashing.verify(dummy, password).catch(() => false);
      return null;
    }
    const ok = await this.hashing.verify(user.passwordHash, password).catch(() => false);
    if (!ok) return null;
    if (this.needsRehash(user.passwordHash)) {
      await this.store.update(user.id, { passwordHash: await this.hashPassword(password) });
    }
    return toPublicUser(user);
  }

  needsRehash(passwordHash: string): boolean {
    try {
      const parsed = parseOptions(passwordHash);
      return (
        !passwordHash.startsWith('$argon2id$') ||
        parsed.memoryCost !== this.params.memoryCost ||
        parsed.timeCost !== this.params.timeCost ||
        parsed.parallelism !== this.params.parallelism
      );
    } catch {
      return true;
    }
  }

  hashPassword(password: string): Promise<string> {
    return this.hashing.hash(password, { algorithm: ARGON2ID, ...this.params });
  }

  async getDummyHash(): Promise<string> {
    this.dummyHash ??= await this.hashPassword(randomBytes(24).toString('base64url'));
    return this.dummyHash;
  }

  /** Seeds the contract's demo users (fixed ids), leaving existing ones alone. */
  async seedDemoUsers(): Promise<void> {
    for (const demo of DEMO_USERS) {
      if (await this.store.findByEmail(normalizeEmail(demo.email))) continue;
      try {
        await this.create(demo);
      } catch (error) {
        // Another gateway instance seeded it at the same moment.
        if (!(error instanceof EmailTakenError)) throw error;
      }
    }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    users: UserDirectory;
  }
}

async function usersPlugin(app: FastifyInstance, opts: { config: GatewayConfig }): Promise<void> {
  const { config } = opts;
  const users = new UserDirectory(
    app.stores.users,
    {
      memoryCost: config.passwordHashing.memoryKiB,
      timeCost: config.passwordHashing.timeCost,
      parallelism: 1,
    },
    config.passwordHashing.maxConcurrent,
  );
  app.decorate('users', users);
  app.addHook('onClose', () => users.close());
  await users.getDummyHash();
  if (config.demoFixtures) await app.stores.whenAvailable('seed demo users', () => users.seedDemoUsers());
}

export default fp(usersPlugin, {
  name: 'stagedoor-users',
  fastify: '5.x',
  dependencies: ['stagedoor-stores'],
});
