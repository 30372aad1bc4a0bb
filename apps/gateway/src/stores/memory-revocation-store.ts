/** Revocations in process memory: the embedded default (`REDIS_URL` unset, so one gateway instance). */
import type { RevocationEntry } from '@stagedoor/shared/revocations';
import {
  type RevocationListener,
  RevocationListeners,
  type RevocationStore,
  type SessionRevocation,
} from './revocation-store.js';

export class MemoryRevocationStore implements RevocationStore {
  readonly #entries = new Map<string, number>();
  readonly #listeners = new RevocationListeners();

  constructor(private readonly nowSeconds: () => number = () => Date.now() / 1000) {}

  async publish(revocations: readonly SessionRevocation[]): Promise<void> {
    this.#forgetExpired();
    for (const r of revocations) this.#entries.set(r.sid, Math.max(r.exp, this.#entries.get(r.sid) ?? 0));
    for (const r of revocations) this.#listeners.emit(r);
  }

  async snapshot(): Promise<RevocationEntry[]> {
    this.#forgetExpired();
    return [...this.#entries].map(([sid, exp]) => ({ sid, exp }));
  }

  subscribe(listener: RevocationListener): () => void {
    return this.#listeners.subscribe(listener);
  }

  onGap(listener: () => void): () => void {
    return this.#listeners.onGap(listener);
  }

  async close(): Promise<void> {}

  #forgetExpired(): void {
    const now = this.nowSeconds();
    for (const [sid, exp] of this.#entries) if (exp <= now) this.#entries.delete(sid);
  }
}
