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
  /** Returns false when no such user exists. */
  update(id: string, fields: Partial<Pick<StoredUser, 'role' | 'name' | 'passwordHash'>>): Promise<boolean>;
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
