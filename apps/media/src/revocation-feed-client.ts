/**
 * Media's end of the revocation feed (CONTRACT.md, Revocation; wire format in
 * `@stagedoor/shared/revocations`): one long-lived `GET /internal/revocations` to the gateway, over the
 * same link as the JWKS, with a service token of media's own (client credentials, scope
 * `revocations:read`). Media never talks to Redis.
 *
 * - Every connect starts with a snapshot, so a replica that starts or reconnects has no gap.
 * - The gateway ends the stream when the token expires or when it may have missed a revocation; the
 *   client then reconnects at once, with a fresh token if needed.
 * - A failure (refused, 5xx, no bytes for three keep-alive periods) makes the feed `down`: logged once,
 *   retried with backoff (`backoffMs(attempt)`, injectable) until a snapshot arrives again. Meanwhile
 *   media keeps serving; `/readyz` reports the state.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { ServiceTokenSource } from '@stagedoor/media-client/token-source';
import {
  parseRevocationEntry,
  REVOCATION_EVENT,
  REVOCATION_KEEPALIVE_MS,
  REVOCATION_SNAPSHOT_EVENT,
  type RevocationEntry,
} from '@stagedoor/shared/revocations';

export type FeedState = 'connecting' | 'up' | 'down' | 'off';

export interface FeedLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface RevocationFeedOptions {
  url: URL;
  tokens: ServiceTokenSource;
  onSnapshot(entries: RevocationEntry[]): void;
  onRevoked(entry: RevocationEntry): void;
  /** Called on every change of state (the `stagedoor_revocation_feed_up` gauge). */
  onState?(state: FeedState): void;
  /** Delay before reconnect attempt `attempt` (1, 2, …) after a failure. */
  backoffMs(attempt: number): number;
  /** No byte for this long means the link is dead (default: three keep-alive periods). */
  idleTimeoutMs?: number;
  connectTimeoutMs?: number;
  log: FeedLogger;
}

/** Exponential from `minMs`, capped at `maxMs`, with up to 20 % jitter so replicas do not move in step. */
export function exponentialBackoff(minMs: number, maxMs: number): (attempt: number) => number {
  return (attempt) => {
    const base = Math.min(maxMs, minMs * 2 ** Math.max(0, attempt - 1));
    return Math.round(base * (0.8 + Math.random() * 0.2));
  };
}

class FeedFailure extends Error {}

export class RevocationFeedClient {
  #state: FeedState = 'connecting';
  #since = new Date();
  #stopped = false;
  #abort: AbortController | undefined;
  #wake: (() => void) | undefined;
  #running: Promise<void> | undefined;
  readonly #upWaiters = new Set<() => void>();

  constructor(private readonly options: RevocationFeedOptions) {}

  get state(): FeedState {
    return this.#state;
  }

  get since(): Date {
    return this.#since;
  }

  start(): void {
    this.#running ??= this.#run();
  }

  /** Resolves true once a snapshot has arrived, false after `timeoutMs` without one. */
  whenUp(timeoutMs: number): Promise<boolean> {
    if (this.#state === 'up') return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (up: boolean) => {
        clearTimeout(timer);
        this.#upWaiters.delete(onUp);
        resolve(up);
      };
      const onUp = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#upWaiters.add(onUp);
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const waiter of [...this.#upWaiters]) waiter();
    this.#abort?.abort();
    this.#wake?.();
    await this.#running;
  }

  #setState(state: FeedState, reason?: string): void {
    if (state === this.#state) return;
    const previous = this.#state;
    this.#state = state;
    this.#since = new Date();
    this.options.onState?.(state);
    // Logged on transitions only: a gateway that stays away is one line, not one per attempt.
    if (state === 'down') {
      this.options.log.warn(
        { reason },
        'revocation feed unreachable; serving on, revoked tokens expire by their TTL until it is back',
      );
    } else if (state === 'up' && previous === 'down') {
      this.options.log.info({}, 'revocation feed back; snapshot applied');
    }
    if (state === 'up') for (const waiter of [...this.#upWaiters]) waiter();
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stopped) {
      try {
        await this.#follow();
        failures = 0; // the gateway ended a healthy stream: reconnect at once
      } catch (error) {
        if (this.#stopped) break;
        failures += 1;
        this.#setState('down', error instanceof Error ? error.message : 'failed');
        await this.#sleep(this.options.backoffMs(failures));
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  /** One connection: resolves when the gateway ends it after a snapshot, throws on any failure. */
  async #follow(): Promise<void> {
    const abort = new AbortController();
    this.#abort = abort;
    const idleMs = this.options.idleTimeoutMs ?? 3 * REVOCATION_KEEPALIVE_MS;
    const connectTimer = setTimeout(() => abort.abort(), this.options.connectTimeoutMs ?? 5000);
    try {
      const token = await this.options.tokens.getToken(abort.signal);
      // node:http with a connection of its own (no pool): stopping destroys exactly this socket.
      const request = (this.options.url.protocol === 'https:' ? httpsRequest : httpRequest)(
        this.options.url,
        {
          headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
          agent: false,
          signal: abort.signal,
        },
      );
      request.end();
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        request.once('response', resolve);
        request.once('error', reject);
      });
      clearTimeout(connectTimer);
      if (res.statusCode === 401) this.options.tokens.invalidate();
      if (res.statusCode !== 200) {
        res.resume();
        throw new FeedFailure(`the feed answered ${res.statusCode}`);
      }
      res.setEncoding('utf8');
      res.setTimeout(idleMs, () => res.destroy(new FeedFailure('the feed went silent')));
      let snapshotSeen = false;
      let buffer = '';
      for await (const chunk of res as AsyncIterable<string>) {
        buffer += chunk;
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const event = this.#parseEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf('\n\n');
          if (event === null) continue;
          if (event.name === REVOCATION_SNAPSHOT_EVENT) {
            const list = (event.data as { revocations?: unknown } | null)?.revocations;
            if (!Array.isArray(list)) throw new FeedFailure('the snapshot is malformed');
            this.options.onSnapshot(list.flatMap((item) => parseRevocationEntry(item) ?? []));
            snapshotSeen = true;
            this.#setState('up');
          } else if (event.name === REVOCATION_EVENT && snapshotSeen) {
            const entry = parseRevocationEntry(event.data);
            if (entry) this.options.onRevoked(entry);
          }
        }
      }
      if (!res.complete && !snapshotSeen) throw new FeedFailure('the feed broke off');
      if (!snapshotSeen) throw new FeedFailure('the feed ended before its snapshot');
    } catch (error) {
      if (error instanceof FeedFailure) throw error;
      if (abort.signal.aborted && !this.#stopped) throw new FeedFailure('the feed did not answer in time');
      throw new FeedFailure(error instanceof Error ? error.message : 'the feed failed');
    } finally {
      clearTimeout(connectTimer);
      abort.abort();
    }
  }

  /** One SSE event block: its `event` name and JSON `data` (comments and `retry` are skipped). */
  #parseEvent(block: string): { name: string; data: unknown } | null {
    let name = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) name = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
    }
    if (data.length === 0) return null;
    try {
      return { name, data: JSON.parse(data.join('\n')) };
    } catch {
      return null;
    }
  }
}
