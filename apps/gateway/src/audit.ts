/**
 * The audit log (CONTRACT.md, Audit log): one JSON line per account event, through the app's own pino
 * logger (so its redaction applies), with `"audit": true`, an `event`, the actor's and the target's user
 * ids, the public session handle, the client's IP and user agent. Never a password, cookie, token or
 * hash: callers pass ids and public handles only, and the fields are a closed set.
 *
 * Audit lines are written at `info` even when LOG_LEVEL is `warn` or `error` (an operator who quiets the
 * request log still keeps the record of who signed in and who changed what); `LOG_LEVEL=silent` turns
 * them off too.
 */
import type { FastifyRequest } from 'fastify';
import { clientAddress } from './client-address.js';

export type AuditEvent =
  | 'sign_in'
  | 'sign_in_failed'
  | 'sign_out'
  | 'sign_out_everywhere'
  | 'session_revoked'
  | 'password_changed'
  | 'password_change_failed'
  | 'user_disabled'
  | 'user_enabled'
  | 'user_sessions_revoked';

export interface AuditFields {
  /** Who acted; null when nobody is signed in (a failed sign-in). */
  actorId: string | null;
  /** Whose account the event is about; null when no account matched (an unknown email). */
  targetId: string | null;
  /** Public handle of the session that acted (for `sign_in`, the session it created); null if none. */
  sessionId: string | null;
  /** Why a sign-in or password check failed. */
  reason?: 'unknown_user' | 'wrong_password' | 'disabled' | 'rate_limited';
  /** `session_revoked`: the public handle of the session that was ended. */
  targetSessionId?: string;
  /** `password_changed`: the public handle that replaced `sessionId` (the session is rotated). */
  newSessionId?: string;
  /** How many sessions the action ended (for a password change, the caller's replaced one included). */
  sessionsEnded?: number;
}

const USER_AGENT_MAX = 256;

export function audit(request: FastifyRequest, event: AuditEvent, fields: AuditFields): void {
  const log = request.log.level === 'silent' ? request.log : request.log.child({}, { level: 'info' });
  log.info(
    {
      audit: true,
      event,
      ...fields,
      ip: clientAddress(request),
      userAgent: (request.headers['user-agent'] ?? '').slice(0, USER_AGENT_MAX),
    },
    `audit: ${event}`,
  );
}
