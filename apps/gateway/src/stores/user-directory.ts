/**
 * The user directory: id, email (unique, case-insensitive), name, role, Argon2id password hash. Two
 * implementations of one storage interface (Redis and process memory); password handling lives in
 * `plugins/users.ts` on top of either.
 */
import { StoreDomainError } from './store-errors.js';

export type Role = 'user' | 'admin';
export const ROLES: readonly Role[] = ['user', 'admin'];

/** What requests and API bodies see of a user: never the password hash. */
export interface PublicUser {
  id: string;
  email: string;
  name: string;
  role: Role;
}

export interface StoredUser extends PublicUser {
  passwordHash: string;
  /** Epoch milliseconds. */
  createdAt: number;
  /** A disabled user cannot sign in, and no session of theirs is accepted (`POST /admin/users/:id/disable`). */
  disabled: boolean;
  /**
   * Sessions carry the value this had when their password was verified; a session whose value differs is
   * refused. A password change and disabling increment it, so a sign-in that verified the old password
   * while the change ran cannot leave a working session behind, even one created after the change ended
   * every session it could see.
   */
  sessionVersion: number;
}

/** What an administrator sees of a user (`GET /admin/users`): never the password hash. */
export interface UserSummary extends PublicUser {
  disabled: boolean;
}

/** Fields `UserStore.update` may change. */
export type UserUpdate = Partial<Pick<StoredUser, 'role' | 'name' | 'passwordHash' | 'disabled'>>;

export interface UserUpdateOptions {
  /** Also increment `sessionVersion`: every session issued before stops being accepted. */
  endSessions?: boolean;
  /** Change nothing unless the stored password hash is still this one (compare-and-set). */
  ifPasswordHash?: string;
}

export class EmailTakenError extends StoreDomainError {
  readonly code = 'ERR_EMAIL_TAKEN';
  constructor(email: string) {
    super(`a user with email ${email} already exists`);
    this.name = 'EmailTakenError';
  }
}

export interface UserStore {
  findById(id: string): Promise<StoredUser | null>;
  /** `email` must already be normalized (see `normalizeEmail`). */
  findByEmail(email: string): Promise<StoredUser | null>;
  /** Throws `EmailTakenError` when the (normalized) email is in use. */
  insert(user: StoredUser): Promise<void>;
  /**
   * Changes the fields of an existing user in one atomic step, and with `endSessions` also increments
   * `sessionVersion` in that step. The user as stored afterwards, or null when no such user exists (or,
   * with `ifPasswordHash`, when the stored hash is no longer that one: nothing is changed then).
   */
  update(id: string, fields: UserUpdate, options?: UserUpdateOptions): Promise<StoredUser | null>;
  /** Every user, in no particular order. */
  list(): Promise<StoredUser[]>;
  close(): Promise<void>;
}

/** Emails compare case-insensitively: trimmed and lower-cased once, before storage and lookup. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** User ids go into Redis hash tags (`{u:<id>}`), so they are restricted to a safe alphabet. */
export const USER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function toPublicUser(user: StoredUser): PublicUser {
  return { id: user.id, email: user.email, name: user.name, role: user.role };
}

export function toUserSummary(user: StoredUser): UserSummary {
  return { ...toPublicUser(user), disabled: user.disabled };
}
