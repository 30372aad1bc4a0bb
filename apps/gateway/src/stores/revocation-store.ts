/**
 * Where the gateway records ended sessions for media and open pages (CONTRACT.md, Revocation), and how
 * every gateway instance learns of one at once. Two implementations: Redis (a sorted set shared by all
 * instances plus a pub/sub channel between them; see `redis-revocation-store.ts`) and process memory (one
 * instance, `REDIS_URL` unset).
 */
import type { RevocationEntry } from '@stagedoor/shared/revocations';
import { CLOCK_TOLERANCE_SECONDS } from '@stagedoor/shared/tokens';

/**
 * Why a session ended; carried to the session's own open page, which says why it was signed out.
 * (The same words as `stagedoor_sessions_ended_total`'s `reason` label.)
 */
export type SessionEndReason =
  | 'logout'
  | 'logout_all'
  | 'revoked'
  | 'admin'
  | 'password_changed'
  | 'disabled';

export interface SessionRevocation extends RevocationEntry {
  reason: SessionEndReason;
}

/**
 * The revocations of sessions ended now: each kept until every media token that could carry its public
 * handle has expired (a token minted just before the end lives the media token TTL more, plus media's
 * clock tolerance).
 */
export function revocationsOf(
  publicIds: readonly string[],
  reason: SessionEndReason,
  mediaTokenTtlSeconds: number,
): SessionRevocation[] {
  const exp = Math.ceil(Date.now() / 1000) + mediaTokenTtlSeconds + CLOCK_TOLERANCE_SECONDS;
  return publicIds.map((sid) => ({ sid, exp, reason }));
}

export type RevocationListener = (revocation: SessionRevocation) => void;

export interface RevocationStore {
  /**
   * Records the revocations (kept until their `exp`) and tells every instance, this one included: its
   * listeners are called before this resolves.
   */
  publish(revocations: readonly SessionRevocation[]): Promise<void>;
  /** Every revocation whose `exp` has not passed. */
  snapshot(): Promise<RevocationEntry[]>;
  /** Called for each revocation published by any instance. Returns the unsubscribe function. */
  subscribe(listener: RevocationListener): () => void;
  /**
   * Called when this instance may have missed revocations (its link to the others was lost and is back):
   * streams built on `subscribe` must start over from a snapshot.
   */
  onGap(listener: () => void): () => void;
  close(): Promise<void>;
}

/** Dispatch shared by both implementations. */
export class RevocationListeners {
  readonly #revoked = new Set<RevocationListener>();
  readonly #gap = new Set<() => void>();

  subscribe(listener: RevocationListener): () => void {
    this.#revoked.add(listener);
    return () => this.#revoked.delete(listener);
  }

  onGap(listener: () => void): () => void {
    this.#gap.add(listener);
    return () => this.#gap.delete(listener);
  }

  emit(revocation: SessionRevocation): void {
    for (const listener of [...this.#revoked]) listener(revocation);
  }

  emitGap(): void {
    for (const listener of [...this.#gap]) listener();
  }
}
