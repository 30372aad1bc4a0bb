/**
 * `GET /auth/events`: Server-Sent Events for the signed-in page (CONTRACT.md, Revocation: an open page
 * returns to the sign-in form within 2 s of its session ending elsewhere). Authenticated by the session
 * cookie (an `EventSource` on the gateway's own origin sends it). When this session is ended by any
 * gateway instance, the stream sends
 *
 *   event: session-ended   data: {"reason":"revoked"}     (a `SessionEndReason`, or "expired")
 *
 * and closes. The stream also ends at the session's current expiry or after `MAX_STREAM_MS`, whichever
 * comes first: the page's `EventSource` reconnects, and a session that is gone by then answers 401,
 * which the page takes as the end. When this instance may have missed a revocation (its Redis
 * subscription was lost), every stream ends the same way. The page keeps its polling as the fallback.
 */
import type { FastifyInstance } from 'fastify';
import type { EventStream } from '../plugins/event-streams.js';
import type { SessionView } from '../plugins/sessions.js';

const errorRef = { $ref: 'ErrorBody#' } as const;
export const SESSION_ENDED_EVENT = 'session-ended';
const KEEPALIVE_MS = 25_000;
const MAX_STREAM_MS = 10 * 60_000;
const RETRY_MS = 1_000;

export default async function sessionEventRoutes(app: FastifyInstance): Promise<void> {
  const bySession = new Map<string, Set<EventStream>>();
  const endWith = (stream: EventStream, reason: string) => {
    stream.send(SESSION_ENDED_EVENT, { reason });
    stream.end();
  };
  app.stores.revocations.subscribe(({ sid, reason }) => {
    for (const stream of [...(bySession.get(sid) ?? [])]) endWith(stream, reason);
  });
  app.stores.revocations.onGap(() => {
    for (const streams of [...bySession.values()]) for (const stream of [...streams]) stream.end();
  });

  app.get(
    '/auth/events',
    {
      onRequest: app.requireSession,
      schema: {
        summary: "Events about the caller's session (Server-Sent Events): session-ended, then the end",
        produces: ['text/event-stream'],
        response: { 200: { type: 'string' }, 401: errorRef, 503: errorRef },
      },
    },
    async (request, reply) => {
      const session = request.session as SessionView;
      const stream = app.openEventStream(reply, {
        keepaliveMs: KEEPALIVE_MS,
        endAt: Math.min(session.expiresAt.getTime(), Date.now() + MAX_STREAM_MS),
        retryMs: RETRY_MS,
      });
      let streams = bySession.get(session.id);
      if (!streams) {
        streams = new Set();
        bySession.set(session.id, streams);
      }
      streams.add(stream);
      stream.onClose(() => {
        streams.delete(stream);
        if (streams.size === 0) bySession.delete(session.id);
      });
      // Ended between this request's session check and the line above: the event went by unheard.
      try {
        if (!(await app.sessionStore.isAlive(session.id))) endWith(stream, 'expired');
      } catch {
        stream.end();
      }
    },
  );
}
