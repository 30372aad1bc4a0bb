/** Users in process memory: the embedded default (`REDIS_URL` unset). */
import {
  EmailTakenError,
  type StoredUser,
  type UserStore,
  type UserUpdate,
  type UserUpdateOptions,
} from './user-directory.js';

export class MemoryUserStore implements UserStore {
  private readonly byId = new Map<string, StoredUser>();
  private readonly idByEmail = new Map<string, string>();

  async findById(id: string): Promise<StoredUser | null> {
    const user = this.byId.get(id);
    return user ? { ...user } : null;
  }

  async findByEmail(email: string): Promise<StoredUser | null> {
    const id = this.idByEmail.get(email);
    return id === undefined ? null : this.findById(id);
  }

  async insert(user: StoredUser): Promise<void> {
    if (this.idByEmail.has(user.email) || this.byId.has(user.id)) throw new EmailTakenError(user.email);
    this.idByEmail.set(user.email, user.id);
    this.byId.set(user.id, { ...user });
  }

  async update(id: string, fields: UserUpdate, options: UserUpdateOptions = {}) {
    const user = this.byId.get(id);
    if (!user) return null;
    if (options.ifPasswordHash !== undefined && user.passwordHash !== options.ifPasswordHash) return null;
    const updated = {
      ...user,
      ...fields,
      sessionVersion: user.sessionVersion + (options.endSessions ? 1 : 0),
    };
    this.byId.set(id, updated);
    return { ...updated };
  }

  async list(): Promise<StoredUser[]> {
    return [...this.byId.values()].map((user) => ({ ...user }));
  }

  async close(): Promise<void> {}
}
