/**
 * The revocation feed between the gateway and media (CONTRACT.md, Revocation): what goes over the wire,
 * no I/O. The gateway serves `GET /internal/revocations` as Server-Sent Events to a service token with the
 * `revocations:read` scope:
 *
 *   event: snapshot   data: {"revocations":[{"sid":"ses_…","exp":1764660000}, …]}   (first, on every connect)
 *   event: revoked    data: {"sid":"ses_…","exp":1764660000}                          (each one, live)
 *   : keep-alive                                                                      (a comment, every 15 s)
 *
 * `sid` is a session's public handle; `exp` (epoch seconds) is when every media token that could carry it
 * has expired, after which the entry is forgotten. A reconnect gets a fresh snapshot, which closes any gap.
 */
export const REVOCATION_FEED_PATH = '/internal/revocations';
export const REVOCATIONS_SCOPE = 'revocations:read';
export const REVOCATION_SNAPSHOT_EVENT = 'snapshot';
export const REVOCATION_EVENT = 'revoked';
/** The gateway sends a comment at least this often; media treats three missed beats as a dead link. */
export const REVOCATION_KEEPALIVE_MS = 15_000;

export interface RevocationEntry {
  /** The session's public handle (the media token's `sid`). */
  sid: string;
  /** Epoch seconds after which no token carrying `sid` can still be valid. */
  exp: number;
}

const SID = /^[A-Za-z0-9_-]{1,128}$/;

/** An entry from untrusted JSON, or null when it is not one. */
export function parseRevocationEntry(value: unknown): RevocationEntry | null {
  const v = value as { sid?: unknown; exp?: unknown } | null;
  if (typeof v?.sid !== 'string' || !SID.test(v.sid)) return null;
  if (typeof v.exp !== 'number' || !Number.isFinite(v.exp)) return null;
  return { sid: v.sid, exp: v.exp };
}

/** One SSE message (RFC: WHATWG HTML §9.2); `data` is JSON on one line. */
export function sseMessage(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
