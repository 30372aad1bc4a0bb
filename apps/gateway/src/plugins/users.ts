/**
 * The user directory (`app.users`): lookups, creation, roles, and password verification with Argon2id
 * (`@node-rs/argon2`, whose async functions hash on a worker thread, never on the event loop).
 * Unknown emails are verified against a dummy hash with the same parameters, so an unknown email and a
 * wrong password take about the same time. A hash made with other parameters is replaced on sign-in.
 * A disabled user's password is verified too (same time, same answer as a wrong password).
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
  toUserSummary,
  USER_ID_PATTERN,
  type UserStore,
  type UserSummary,
} from '../stores/user-directory.js';

export interface PasswordParams {
  /** KiB (OWASP minimum for Argon2id: 19456 = 19 MiB). */
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** `Algorithm.Argon2id` of `@node-rs/argon2` (a const enum, which isolatedModules cannot import). */
const ARGON2ID = 2;

/** Passwords a person sets (`POST /auth/password`): CONTRACT.md, Accounts. */
export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 128;

/**
 * The outcome of a password check. `userId` of a failure names the account when the email exists (for
 * the audit log only; the client gets the same answer either way).
 */
export type PasswordCheck =
  | { ok: true; user: PublicUser; sessionVersion: number }
  | { ok: false; userId: string | null; reason: 'unknown_user' | 'wrong_password' | 'disabled' };

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

  /** Argon2 verifications computed so far (sign-ins, unknown emails included): what the limits bound. */
  get passwordVerifications(): number {
    return this.hashing.verifications;
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
      disabled: false,
      sessionVersion: 0,
    };
    await this.store.insert(user);
    return toPublicUser(user);
  }

  /** Returns false when no such user exists. */
  async setRole(id: string, role: Role): Promise<boolean> {
    return (await this.store.update(id, { role })) !== null;
  }

  /** Every user as an administrator sees them, sorted by email. */
  async list(): Promise<UserSummary[]> {
    const users = await this.store.list();
    return users.map(toUserSummary).sort((a, b) => a.email.localeCompare(b.email));
  }

  /**
   * Disables (and ends every session of) or re-enables a user: disabling also increments the user's
   * session version, so no session issued before it is ever accepted again, even after re-enabling.
   * Returns false when no such user exists. The caller still ends the sessions through the session
   * store, which is what tells media (revocation).
   */
  async setDisabled(id: string, disabled: boolean): Promise<boolean> {
    return (await this.store.update(id, { disabled }, { endSessions: disabled })) !== null;
  }

  /**
   * Checks an email and password. Always runs one Argon2 verification (against a dummy hash for unknown
   * emails) so timing does not tell which emails exist, nor which accounts are disabled.
   */
  async verifyPassword(email: string, password: string): Promise<PasswordCheck> {
    const user = await this.store.findByEmail(normalizeEmail(email));
    if (!user) {
      const dummy = await this.getDummyHash();
      await this.hashing.verify(dummy, password).catch(() => false);
      return { ok: false, userId: null, reason: 'unknown_user' };
    }
    return this.check(user, password);
  }

  /** The same check for a signed-in user, by id (`POST /auth/password`). */
  async verifyPasswordOf(id: string, password: string): Promise<PasswordCheck> {
    const user = await this.store.findById(id);
    if (!user) {
      await this.hashing.verify(await this.getDummyHash(), password).catch(() => false);
      return { ok: false, userId: null, reason: 'unknown_user' };
    }
    return this.check(user, password);
  }

  /**
   * Sets a new password (hashed with the current parameters) and increments the session version in the
   * same store write, so every session issued before it stops being accepted. Returns the new version
   * (for the session the caller issues next), or null when no such user exists.
   */
  async setPassword(id: string, password: string): Promise<number | null> {
    // Characters are code points, as JSON Schema's minLength/maxLength count them.
    const length = [...password].length;
    if (length < PASSWORD_MIN_LENGTH || length > PASSWORD_MAX_LENGTH) {
      throw new Error(`passwords have ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters`);
    }
    const passwordHash = await this.hashPassword(password);
    const updated = await this.store.update(id, { passwordHash }, { endSessions: true });
    return updated ? updated.sessionVersion : null;
  }

  private async check(user: StoredUser, password: string): Promise<PasswordCheck> {
    const ok = await this.hashing.verify(user.passwordHash, password).catch(() => false);
    if (!ok) return { ok: false, userId: user.id, reason: 'wrong_password' };
    if (user.disabled) return { ok: false, userId: user.id, reason: 'disabled' };
    if (this.needsRehash(user.passwordHash)) {
      // Only over the hash just verified: a password change that landed meanwhile must not be undone.
      const passwordHash = await this.hashPassword(password);
      await this.store.update(user.id, { passwordHash }, { ifPasswordHash: user.passwordHash });
    }
    return { ok: true, user: toPublicUser(user), sessionVersion: user.sessionVersion };
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
