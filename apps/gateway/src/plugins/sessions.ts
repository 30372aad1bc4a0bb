/**
 * Session-cookie authentication. Not `@fastify/session`: its `regenerate()` left the old session valid,
 * its signer kept the first secret it was built with, a restart with `SESSION_SECRETS=new,old` cleared
 * unchanged sessions' cookies, `rolling` wrote the whole session on every response, and its store saw the
 * raw cookie id. This plugin is small instead:
 *
 * - The cookie (`sid`, or `__Host-sid` when secure) carries a 256-bit random secret, signed by
 *   `@fastify/cookie` with `SESSION_SECRETS[0]` and verified with any of them. A cookie verified by an
 *   older secret is re-set signed with the newest, so a rotation logs nobody out.
 * - The store is addressed by SHA-256(secret) only (see `stores/redis-session-store.ts` for the layout).
 * - Idle timeout and absolute lifetime are both checked here and set as the store's TTL; `lastSeenAt` and
 *   the idle extension are written at most once per `SESSION_TOUCH_SECONDS`, so a read-only request does
 *   not write.
 *
 * - A session is accepted only while its user exists, is not disabled, and has the `sessionVersion` the
 *   session was issued under (a password change and disabling increment it; see `stores/user-directory.ts`).
 *
 * Decorates `request.session` / `request.user` (null when not signed in), `app.requireSession` (a hook
 * answering 401 `unauthenticated`, or 503 when the store does not answer), `app.sessionStore`, and
 * `app.sessions` (issue / end, used by the auth routes).
 *
 * Ending sessions — one path for every action (CONTRACT.md, Revocation): `app.sessionStore`'s
 * `destroy`, `destroyAllForUser` and `destroyByPublicId` take the reason (`SessionEndReason`) and, after
 * the store deleted the sessions, revoke each one through `app.sessions.revoke` (`endSessions` below):
 * recorded until every media token that could carry its public handle has expired, and pushed to every
 * gateway instance, so media refuses those tokens and cuts their streams, and the session's open page
 * returns to the sign-in form. Any new way of ending a session (password change, disabling a user) goes
 * through these methods, never through `app.stores.sessions` directly, which revokes nothing.
 */
import { hash as oneShotHash, randomBytes } from 'node:crypto';
import fastifyCookie, { type CookieSerializeOptions } from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { clientAddress } from '../client-address.js';
import type { GatewayConfig } from '../config.js';
import { Unauthenticated } from '../errors.js';
import { revocationsOf, type SessionEndReason } from '../stores/revocation-store.js';
import { type SessionRecord, type SessionStore, sessionExpiresAt } from '../stores/session-store.js';
import { StoreUnavailableError } from '../stores/store-errors.js';
import { type PublicUser, toPublicUser } from '../stores/user-directory.js';

export interface SessionView {
  /** Public handle (`ses_…`): safe to show, never usable as a cookie. */
  id: string;
  userId: string;
  csrfToken: string;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
  userAgent: string;
  ip: string;
}

export interface SessionManager {
  /**
   * Starts a new session for the user (destroying any the request presented) and sets the cookie.
   * `sessionVersion` is the user's version read together with the password hash that was verified.
   */
  issue(
    request: FastifyRequest,
    reply: FastifyReply,
    user: PublicUser,
    sessionVersion: number,
  ): Promise<SessionView>;
  /** Destroys the request's session (if any; revoked with `reason`, default `logout`) and clears the cookie. */
  end(request: FastifyRequest, reply: FastifyReply, reason?: SessionEndReason): Promise<void>;
  /**
   * Revokes sessions the store has just deleted (their public handles): media refuses their tokens and
   * their pages sign out. The `app.sessionStore` methods call it; nothing else needs to.
   */
  revoke(publicIds: readonly string[], reason: SessionEndReason): Promise<void>;
  clearCookie(reply: FastifyReply): void;
  toView(record: SessionRecord): SessionView;
}

/**
 * `app.sessionStore`: the session store, where every method that ends sessions needs the reason and
 * revokes what it ended (see the header).
 */
export interface RevokingSessionStore
  extends Omit<SessionStore, 'destroy' | 'destroyAllForUser' | 'destroyByPublicId'> {
  destroy(hash: string, userId: string, reason: SessionEndReason): Promise<string | null>;
  destroyAllForUser(userId: string, reason: SessionEndReason): Promise<string[]>;
  destroyByPublicId(userId: string, publicId: string, reason: SessionEndReason): Promise<boolean>;
}

declare module 'fastify' {
  interface FastifyRequest {
    session: SessionView | null;
    user: PublicUser | null;
    /** This plugin's own per-request state (the presented cookie's hash, the record, a store error). */
    sessionState: SessionState | null;
  }
  interface FastifyInstance {
    requireSession: (request: FastifyRequest, reply: FastifyReply, done: HookDone) => void;
    sessionStore: RevokingSessionStore;
    sessions: SessionManager;
  }
}

/** The store key of a cookie secret: SHA-256, so the store never holds what the cookie carries. */
export function hashSessionSecret(secret: string): string {
  // One-shot `crypto.hash` (Node 21.7+): no Hash object per request.
  return oneShotHash('sha256', secret, 'base64url');
}

export interface SessionState {
  hash?: string;
  record?: SessionRecord;
  storeError?: StoreUnavailableError;
}

type HookDone = (error?: Error) => void;

const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

async function sessionsPlugin(app: FastifyInstance, opts: { config: GatewayConfig }): Promise<void> {
  const { session: cfg } = opts.config;
  const idleMs = cfg.idleSeconds * 1000;
  const maxMs = cfg.maxSeconds * 1000;
  const touchMs = cfg.touchIntervalSeconds * 1000;
  const store = app.stores.sessions;
  const cookieOptions: CookieSerializeOptions = {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: cfg.cookieSecure,
    signed: true,
  };

  await app.register(fastifyCookie, { secret: cfg.secrets, hook: 'onRequest' });

  const toView = (record: SessionRecord): SessionView => ({
    id: record.id,
    userId: record.userId,
    csrfToken: record.csrfToken,
    createdAt: new Date(record.createdAt),
    lastSeenAt: new Date(record.lastSeenAt),
    expiresAt: new Date(sessionExpiresAt(record, idleMs)),
    userAgent: record.userAgent,
    ip: record.ip,
  });

  app.decorateRequest('session', null);
  app.decorateRequest('user', null);
  // A request slot rather than a WeakMap keyed by request: no hash lookup per request, no ephemeron for GC.
  app.decorateRequest('sessionState', null);

  const endSessions = async (publicIds: readonly string[], reason: SessionEndReason): Promise<void> => {
    await app.stores.revocations.publish(revocationsOf(publicIds, reason, opts.config.mediaTokenTtlSeconds));
  };
  app.decorate('sessionStore', {
    create: (hash, record) => store.create(hash, record),
    get: (hash) => store.get(hash),
    touch: (hash, record) => store.touch(hash, record),
    listForUser: (userId) => store.listForUser(userId),
    isAlive: (publicId) => store.isAlive(publicId),
    close: () => store.close(),
    async destroy(hash, userId, reason) {
      const ended = await store.destroy(hash, userId);
      if (ended !== null) await endSessions([ended], reason);
      return ended;
    },
    async destroyAllForUser(userId, reason) {
      const ended = await store.destroyAllForUser(userId);
      await endSessions(ended, reason);
      return ended;
    },
    async destroyByPublicId(userId, publicId, reason) {
      const deleted = await store.destroyByPublicId(userId, publicId);
      if (deleted) await endSessions([publicId], reason);
      return deleted;
    },
  } satisfies RevokingSessionStore);

  // HMAC check and SHA-256 of a cookie seen before are remembered (a bounded map, this process only):
  // they cost more than the rest of a signed-in request's own work.
  const verified = new Map<string, { secret: string; hash: string; renew: boolean }>();
  const verifyCookie = (request: FastifyRequest, raw: string) => {
    const known = verified.get(raw);
    if (known) return known;
    const unsigned = request.unsignCookie(raw);
    if (!unsigned.valid || unsigned.value === null || !SECRET_PATTERN.test(unsigned.value)) return null;
    const entry = { secret: unsigned.value, hash: hashSessionSecret(unsigned.value), renew: unsigned.renew };
    if (verified.size >= 10_000) verified.delete(verified.keys().next().value as string);
    verified.set(raw, entry);
    return entry;
  };

  app.addHook('onRequest', async (request, reply) => {
    const raw = request.cookies[cfg.cookieName];
    if (raw === undefined) return;
    const unsigned = verifyCookie(request, raw);
    if (unsigned === null) return;
    const { secret, hash } = unsigned;
    const state: SessionState = { hash };
    request.sessionState = state;
    try {
      const loaded = await app.stores.loadSession(hash);
      if (!loaded?.user) return;
      if (loaded.user.disabled || (loaded.record.sessionVersion ?? 0) !== loaded.user.sessionVersion) {
        // Issued under a password that has since changed, or to a user since disabled, and created after
        // that change ended every session it could see (a sign-in racing with it): never accepted.
        await app.sessionStore.destroy(
          hash,
          loaded.record.userId,
          loaded.user.disabled ? 'disabled' : 'password_changed',
        );
        return;
      }
      let record = loaded.record;
      const user = toPublicUser(loaded.user);
      const now = Date.now();
      if (now - record.lastSeenAt >= touchMs) {
        const touched = { ...record, lastSeenAt: now };
        if (!(await store.touch(hash, touched))) return;
        record = touched;
      }
      state.record = record;
      request.session = toView(record);
      request.user = user;
      // Signed with an older secret of SESSION_SECRETS: hand the browser the same value signed anew.
      if (unsigned.renew) reply.setCookie(cfg.cookieName, secret, cookieOptions);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      state.storeError = error;
    }
  });

  // A callback hook, not an async one: it runs on every signed-in request and has nothing to await.
  app.decorate('requireSession', (request: FastifyRequest, _reply: FastifyReply, done: HookDone) => {
    const state = request.sessionState;
    if (state?.storeError) return done(state.storeError);
    if (request.session === null) return done(new Unauthenticated());
    done();
  });

  const clearCookie = (reply: FastifyReply) => {
    const { signed: _signed, ...attributes } = cookieOptions;
    reply.clearCookie(cfg.cookieName, attributes);
  };

  app.decorate('sessions', {
    toView,
    clearCookie,
    async issue(request, reply, user, sessionVersion) {
      const presented = request.sessionState;
      if (presented?.storeError) throw presented.storeError;
      if (presented?.hash && presented.record) {
        await app.sessionStore.destroy(presented.hash, presented.record.userId, 'logout');
      }
      const secret = randomBytes(32).toString('base64url');
      const now = Date.now();
      const record: SessionRecord = {
        id: `ses_${randomBytes(16).toString('base64url')}`,
        userId: user.id,
        csrfToken: randomBytes(32).toString('base64url'),
        createdAt: now,
        lastSeenAt: now,
        absoluteExpiresAt: now + maxMs,
        userAgent: (request.headers['user-agent'] ?? '').slice(0, 256),
        ip: clientAddress(request),
        sessionVersion,
      };
      const hash = hashSessionSecret(secret);
      await store.create(hash, record);
      request.sessionState = { hash, record };
      reply.setCookie(cfg.cookieName, secret, cookieOptions);
      request.session = toView(record);
      request.user = user;
      return request.session;
    },
    revoke: endSessions,
    async end(request, reply, reason = 'logout') {
      const state = request.sessionState;
      if (state?.hash && state.record)
        await app.sessionStore.destroy(state.hash, state.record.userId, reason);
      request.sessionState = null;
      request.session = null;
      request.user = null;
      clearCookie(reply);
    },
  } satisfies SessionManager);
}

export default fp(sessionsPlugin, {
  name: 'stagedoor-sessions',
  fastify: '5.x',
  dependencies: ['stagedoor-stores', 'stagedoor-users'],
});
