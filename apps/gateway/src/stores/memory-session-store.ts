/** Sessions in process memory: the embedded default (`REDIS_URL` unset). Same behaviour as Redis. */
import { type SessionRecord, type SessionStore, sessionExpiresAt } from './session-store.js';

export class MemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, SessionRecord>();
  private readonly byUser = new Map<string, Set<string>>();
  private readonly byPublicId = new Map<string, string>();
  private readonly sweeper: NodeJS.Timeout;

  /** `onExpired` hears of each session this store finds past its idle or absolute deadline and drops. */
  constructor(
    private readonly idleMs: number,
    private readonly onExpired: () => void = () => undefined,
  ) {
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref();
  }

  async create(hash: string, record: SessionRecord): Promise<void> {
    this.sessions.set(hash, { ...record });
    this.byPublicId.set(record.id, hash);
    let set = this.byUser.get(record.userId);
    if (!set) {
      set = new Set();
      this.byUser.set(record.userId, set);
    }
    set.add(hash);
  }

  async get(hash: string): Promise<SessionRecord | null> {
    const record = this.sessions.get(hash);
    if (!record) return null;
    if (sessionExpiresAt(record, this.idleMs) <= Date.now()) {
      this.remove(hash);
      this.onExpired();
      return null;
    }
    return { ...record };
  }

  async touch(hash: string, record: SessionRecord): Promise<boolean> {
    if (!(await this.get(hash))) return false;
    this.sessions.set(hash, { ...record });
    return true;
  }

  async destroy(hash: string): Promise<string | null> {
    return this.remove(hash);
  }

  async destroyAllForUser(userId: string): Promise<string[]> {
    const hashes = [...(this.byUser.get(userId) ?? [])];
    return hashes.flatMap((hash) => this.remove(hash) ?? []);
  }

  async listForUser(userId: string): Promise<SessionRecord[]> {
    const out: SessionRecord[] = [];
    for (const hash of [...(this.byUser.get(userId) ?? [])]) {
      const record = await this.get(hash);
      if (record) out.push(record);
    }
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  async destroyByPublicId(userId: string, publicId: string): Promise<boolean> {
    const hash = this.byPublicId.get(publicId);
    if (hash === undefined) return false;
    const record = await this.get(hash);
    if (!record || record.userId !== userId) return false;
    this.remove(hash);
    return true;
  }

  async isAlive(publicId: string): Promise<boolean> {
    const hash = this.byPublicId.get(publicId);
    return hash !== undefined && (await this.get(hash)) !== null;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }

  /** The removed session's public handle. */
  private remove(hash: string): string | null {
    const record = this.sessions.get(hash);
    if (!record) return null;
    this.sessions.delete(hash);
    this.byPublicId.delete(record.id);
    const set = this.byUser.get(record.userId);
    set?.delete(hash);
    if (set?.size === 0) this.byUser.delete(record.userId);
    return record.id;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [hash, record] of this.sessions) {
      if (sessionExpiresAt(record, this.idleMs) <= now) {
        this.remove(hash);
        this.onExpired();
      }
    }
  }
}
