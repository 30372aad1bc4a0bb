/**
 * What the gateway keeps about a session, and the storage interface both implementations (Redis and
 * process memory) provide. A session is addressed by `hash` = SHA-256 of the secret the cookie carries:
 * the store never sees the secret itself, so a copy of the store cannot be turned into a cookie.
 */
export interface SessionRecord {
  /** Public handle shown in API bodies (`ses_…`); knowing it never lets anyone use the session. */
  id: string;
  userId: string;
  csrfToken: string;
  /** Epoch milliseconds. */
  createdAt: number;
  lastSeenAt: number;
  /** createdAt + SESSION_MAX_SECONDS: the absolute lifetime, never extended. */
  absoluteExpiresAt: number;
  userAgent: string;
  ip: string;
  /**
   * The user's `sessionVersion` when their password was verified for this session (absent in records
   * written before it existed: 0). The session is accepted only while the user's version is the same.
   */
  sessionVersion?: number;
}

export interface SessionStore {
  /** Stores a new session and adds it to its user's index, atomically. */
  create(hash: string, record: SessionRecord): Promise<void>;
  /** The live session for this hash, or null (unknown, destroyed, idle or absolute expiry passed). */
  get(hash: string): Promise<SessionRecord | null>;
  /**
   * Rewrites a session that still exists (a touch: new lastSeenAt and idle extension); false if it was
   * destroyed meanwhile, which a touch must never undo.
   */
  touch(hash: string, record: SessionRecord): Promise<boolean>;
  /** Deletes the session; returns its public handle, or null when there was none. */
  destroy(hash: string, userId: string): Promise<string | null>;
  /**
   * Deletes every session of the user, including one created concurrently; returns their public handles.
   */
  destroyAllForUser(userId: string): Promise<string[]>;
  /** The user's live sessions, oldest first. */
  listForUser(userId: string): Promise<SessionRecord[]>;
  /** Deletes the session with this public handle if it belongs to the user; false if it does not. */
  destroyByPublicId(userId: string, publicId: string): Promise<boolean>;
  /** Whether the session with this public handle is still alive (used before minting media tokens). */
  isAlive(publicId: string): Promise<boolean>;
  close(): Promise<void>;
}

/** When a session ends if nothing touches it again: the idle deadline or the absolute one, whichever first. */
export function sessionExpiresAt(record: SessionRecord, idleMs: number): number {
  return Math.min(record.lastSeenAt + idleMs, record.absoluteExpiresAt);
}
