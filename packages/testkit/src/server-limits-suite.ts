/**
 * The tests both apps run against their own server (issue 11 §6): slow and idle clients are cut off within
 * the configured bounds, and connections beyond the cap are refused until the flood goes. Upper bounds are
 * generous on purpose (a loaded CI machine); without the settings Node and Fastify wait 60–72 s, so the
 * 10 s give-up fails the test.
 */
import { expect, it } from 'vitest';
import {
  getStatus,
  idleAfterOneRequest,
  idleSockets,
  sayNothing,
  trickleHead,
  until,
} from './slow-clients.js';

export interface RunningServer {
  port: number;
  /** The server's own count of open connections. */
  connections(): Promise<number>;
  close(): Promise<unknown>;
}

const GIVE_UP_MS = 10_000;
const SLACK_MS = 4000;

export function serverLimitTests(start: (env: Record<string, string>) => Promise<RunningServer>): void {
  it('closes a client that trickles its request head (slowloris), and one that says nothing, at HEADERS_TIMEOUT_MS', async () => {
    const server = await start({ HEADERS_TIMEOUT_MS: '600' });
    try {
      const closed = await Promise.all([
        trickleHead(server.port, { everyMs: 100, giveUpMs: GIVE_UP_MS }),
        sayNothing(server.port, { giveUpMs: GIVE_UP_MS }),
      ]);
      if (process.env.DEBUG_LIMITS)
        console.log(
          'head bound 600 ms, closed after',
          closed.map((c) => c.afterMs),
        );
      for (const { status, afterMs, body } of closed) {
        expect(status).toBe(408);
        expect(JSON.parse(body)).toEqual({
          error: 'invalid_request',
          message: 'the request did not arrive in time',
        });
        expect(afterMs).toBeGreaterThanOrEqual(590);
        expect(afterMs).toBeLessThan(600 + SLACK_MS);
      }
      expect(await getStatus(server.port, '/healthz')).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('closes an idle keep-alive socket after KEEP_ALIVE_TIMEOUT_MS', async () => {
    const server = await start({ KEEP_ALIVE_TIMEOUT_MS: '300' });
    try {
      const closed = await idleAfterOneRequest(server.port, { giveUpMs: GIVE_UP_MS });
      if (process.env.DEBUG_LIMITS) console.log('keep-alive 300 ms, closed after', closed.afterMs);
      expect(closed.statuses).toEqual([200]);
      expect(closed.afterMs).toBeGreaterThanOrEqual(290);
      // Node keeps the socket up to a further second (keepAliveTimeoutBuffer) past the advertised timeout.
      expect(closed.afterMs).toBeLessThan(1300 + SLACK_MS);
    } finally {
      await server.close();
    }
  });

  it('refuses connections beyond MAX_CONNECTIONS as they arrive, and serves again once the flood goes', async () => {
    const server = await start({ MAX_CONNECTIONS: '20' });
    const cleanup: (() => void)[] = [];
    try {
      const held = await idleSockets(server.port, 20);
      cleanup.push(held.destroy);
      await until(async () => (await server.connections()) === 20);
      const flood = await idleSockets(server.port, 30);
      cleanup.push(flood.destroy);
      await Promise.race([flood.allClosed, until(() => false, GIVE_UP_MS)]);
      expect(flood.closedByServer()).toBe(30);
      // A real request waits its turn like any other connection; the held sockets are untouched.
      expect(await getStatus(server.port, '/healthz')).toBe(0);
      expect(held.closedByServer()).toBe(0);
      expect(await server.connections()).toBe(20);
      held.destroy();
      await until(async () => (await server.connections()) === 0);
      expect(await getStatus(server.port, '/healthz')).toBe(200);
    } finally {
      for (const destroy of cleanup) destroy();
      await server.close();
    }
  });
}
