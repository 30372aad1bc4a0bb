/**
 * The sessions media must refuse (CONTRACT.md, Revocation): session public handle → the epoch second
 * after which no token carrying it can still be valid, as the gateway's revocation feed tells it. One
 * `Map` lookup per request; an entry is forgotten once its `exp` has passed (the lookup ignores it at
 * once, a sweep frees it later). Entries only ever arrive: a snapshot after a reconnect is merged, never
 * a replacement, so a revocation is not lost to a snapshot taken by a gateway that had not heard of it.
 */
import type { RevocationEntry } from '@stagedoor/shared/revocations';

export class RevocationList {
  readonly #entries = new Map<string, number>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(
    private readonly nowSeconds: () => number = () => Date.now() / 1000,
    sweepIntervalMs = 60_000,
  ) {
    this.#sweeper = setInterval(() => this.sweep(), sweepIntervalMs);
    this.#sweeper.unref();
  }

  add(entry: RevocationEntry): void {
    if (entry.exp <= this.nowSeconds()) return;
    const known = this.#entries.get(entry.sid);
    if (known === undefined || known < entry.exp) this.#entries.set(entry.sid, entry.exp);
  }

  isRevoked(sid: string): boolean {
    const exp = this.#entries.get(sid);
    return exp !== undefined && exp > this.nowSeconds();
  }

  sweep(): void {
    const now = this.nowSeconds();
    for (const [sid, exp] of this.#entries) if (exp <= now) this.#entries.delete(sid);
  }

  get size(): number {
    return this.#entries.size;
  }

  close(): void {
    clearInterval(this.#sweeper);
  }
}
