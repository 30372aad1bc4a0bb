/**
 * Tokens already verified, so the same token sent again (a player fetches one media URL range after range)
 * skips the signature check (~0.45 ms of CPU here). An entry is the whole token string: a token whose
 * header or payload differs by one byte is another entry and is verified from scratch. It stays valid only
 * while both hold:
 * - the token has not expired (after `exp` it is verified again, so jose applies the clock tolerance and
 *   refuses it as it would have without the cache);
 * - the key set it was verified against is still the one in use: when the JWKS is fetched again (expiry,
 *   unknown kid, readiness probe), every entry is verified again, so a key removed from the JWKS stops
 *   verifying exactly when it would without the cache.
 * Oldest entries go first once `maxEntries` is reached. Only successes are kept.
 */
import type { VerifiedToken } from './plugins/token-verifier.js';

interface Entry {
  verified: VerifiedToken;
  keySet: unknown;
}

export class VerifiedTokenCache {
  readonly #entries = new Map<string, Entry>();
  constructor(
    readonly maxEntries: number,
    private readonly nowSeconds: () => number = () => Date.now() / 1000,
  ) {}

  get(token: string, keySet: unknown): VerifiedToken | undefined {
    const entry = this.#entries.get(token);
    if (!entry) return undefined;
    if (entry.keySet !== keySet || this.nowSeconds() >= entry.verified.expiresAt) {
      this.#entries.delete(token);
      return undefined;
    }
    return entry.verified;
  }

  set(token: string, keySet: unknown, verified: VerifiedToken): void {
    if (this.maxEntries === 0) return;
    this.#entries.delete(token);
    while (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
    this.#entries.set(token, { verified, keySet });
  }

  get size(): number {
    return this.#entries.size;
  }
}
