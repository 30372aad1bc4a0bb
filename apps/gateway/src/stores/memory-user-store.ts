/** Users in process memory: the embedded default (`REDIS_URL` unset). */
import { EmailTakenError, type StoredUser, type UserStore } from './user-directory.js';

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

  async update(
    id: string,
    fields: Partial<Pick<StoredUser, 'role' | 'name' | 'passwordHash'>>,
  ): Promise<boolean> {
    const user = this.byId.get(id);
    if (!user) return false;
    this.byId.set(id, { ...user, ...fields });
    return true;
  }

  async close(): Promise<void> {}
}
