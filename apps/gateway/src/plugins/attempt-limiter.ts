/**
 * `app.attemptLimiter`: limits on guessing a secret (a password at sign-in and password change, a client
 * secret at the token endpoint), shared by every gateway instance (Redis) or per process (memory).
 * Each attempt is counted before its hash is computed, on three counters taken narrowest first (account
 * from this source, source, account from everywhere), so concurrent guesses cannot outrun the count and
 * a known email or client id does not lock its owner out. README, design notes, "Failed-attempt limits",
 * gives the numbers and the reasons.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { AttemptStore } from '../stores/attempt-store.js';

export interface AttemptLimits {
  /** Failures of one account from one source per window (LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_IP). */
  perAccountAndIp: number;
  /** Failures from one source across accounts (LOGIN_MAX_FAILURES_PER_IP). */
  perIp: number;
  /** Failures of one account from every source: the ceiling (LOGIN_MAX_FAILURES_PER_ACCOUNT). */
  perAccount: number;
  windowSeconds: number;
}

/** What the secret belongs to: a person's account (by normalized email) or a service client (by id). */
export type AttemptScope = 'login' | 'oauth';

/** The counter that refused an attempt (a bounded label for logs and metrics). */
export type AttemptCounter = 'account_and_ip' | 'ip' | 'account';

/** What a secret check answers: `ok` when the secret was right (and may be used), with whatever else. */
export interface SecretCheck {
  ok: boolean;
}

/** The three outcomes of an attempt (the `stagedoor_logins_total` labels). */
export type AttemptResult<C extends SecretCheck> =
  | { outcome: 'success'; check: Extract<C, { ok: true }> }
  | { outcome: 'invalid_credentials'; check: Exclude<C, { ok: true }> }
  | { outcome: 'rate_limited'; retryAfterSeconds: number; counter: AttemptCounter };

export interface AttemptLimiter {
  /**
   * Counts one attempt of `source` at `principal`'s secret, then runs `verify` (the hash check) only if
   * every counter had room. A check that is not `ok` stays counted as a failure. If `verify` throws (a
   * store is down), every count is given back.
   */
  attempt<C extends SecretCheck>(
    scope: AttemptScope,
    principal: string,
    source: string,
    verify: () => Promise<C>,
  ): Promise<AttemptResult<C>>;
  readonly limits: AttemptLimits;
}

declare module 'fastify' {
  interface FastifyInstance {
    attemptLimiter: AttemptLimiter;
  }
}

function expandIPv6(address: string): number[] {
  const [head = '', tail] = address.split('::') as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((h) => Number.parseInt(h, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/** The source an attempt is counted against: an IPv4 address (mapped ones too), or an IPv6 /64. */
export function attemptSource(ip: string): string {
  const address = ip.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1] as string;
  if (isIPv4(address) || !isIPv6(address) || address.includes('.')) return address;
  const groups = expandIPv6(address).slice(0, 4);
  return `${groups.map((g) => g.toString(16)).join(':')}::/64`;
}

export function createAttemptLimiter(store: AttemptStore, limits: AttemptLimits): AttemptLimiter {
  const windowMs = limits.windowSeconds * 1000;
  return {
    limits,
    async attempt<C extends SecretCheck>(
      scope: AttemptScope,
      principal: string,
      source: string,
      verify: () => Promise<C>,
    ): Promise<AttemptResult<C>> {
      const from = attemptSource(source);
      // Narrowest first, so an attempt refused by its own source's allowance never touches the wider
      // counters, not even for a moment: a flood from one source cannot crowd the owner out of the ceiling.
      const counters: Array<{ name: AttemptCounter; key: string; limit: number }> = [
        {
          name: 'account_and_ip',
          key: `${scope}:account+ip:${JSON.stringify([principal, from])}`,
          limit: limits.perAccountAndIp,
        },
        { name: 'ip', key: `${scope}:ip:${from}`, limit: limits.perIp },
        { name: 'account', key: `${scope}:account:${principal}`, limit: limits.perAccount },
      ];
      const taken: string[] = [];
      const giveBack = () => Promise.all(taken.map((key) => store.release(key)));
      for (const counter of counters) {
        let waitMs: number;
        try {
          waitMs = await store.acquire(counter.key, counter.limit, windowMs);
        } catch (error) {
          await giveBack().catch(() => undefined);
          throw error;
        }
        if (waitMs > 0) {
          await giveBack();
          return {
            outcome: 'rate_limited',
            retryAfterSeconds: Math.ceil(waitMs / 1000),
            counter: counter.name,
          };
        }
        taken.push(counter.key);
      }
      let check: C;
      try {
        check = await verify();
      } catch (error) {
        await giveBack().catch(() => undefined);
        throw error;
      }
      if (!check.ok) return { outcome: 'invalid_credentials', check: check as Exclude<C, { ok: true }> };
      const [accountAndIp, ...others] = taken as [string, string, string];
      await Promise.all([store.reset(accountAndIp), ...others.map((key) => store.release(key))]);
      return { outcome: 'success', check: check as Extract<C, { ok: true }> };
    },
  };
}

async function attemptLimiterPlugin(app: FastifyInstance, opts: { limits: AttemptLimits }): Promise<void> {
  const { limits } = opts;
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value < 1)
      throw new Error(`attempt limit ${name} must be an integer ≥ 1`);
  }
  app.decorate('attemptLimiter', createAttemptLimiter(app.stores.attempts, limits));
}

export default fp(attemptLimiterPlugin, {
  name: 'stagedoor-attempt-limiter',
  fastify: '5.x',
  dependencies: ['stagedoor-stores'],
});
