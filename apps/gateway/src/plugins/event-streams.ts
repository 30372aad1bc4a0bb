/**
 * Server-Sent Events responses (WHATWG HTML §9.2) for the revocation feed (`routes/revocation-feed.ts`)
 * and the page's session events (`routes/session-events.ts`). `app.openEventStream(reply)` takes the
 * response over from Fastify and returns a stream that:
 * - sends a comment every `keepaliveMs`, so proxies keep the connection and the reader can tell a dead
 *   link from a quiet one;
 * - ends by itself at `endAt` (epoch ms; e.g. when the credential that opened it expires), after which
 *   the reader reconnects and is authenticated again;
 * - is ended when the app closes, so `app.close()` does not wait for streams that never end.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';

export interface EventStream {
  send(event: string, data: unknown): void;
  end(): void;
  readonly closed: boolean;
  /** Called once when the stream ends, from either side. */
  onClose(listener: () => void): void;
}

export interface EventStreamOptions {
  keepaliveMs: number;
  endAt?: number;
  /** The reconnection delay the reader should use (the SSE `retry` field), in ms. */
  retryMs?: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    openEventStream(reply: FastifyReply, options: EventStreamOptions): EventStream;
  }
}

async function eventStreamsPlugin(app: FastifyInstance): Promise<void> {
  const open = new Set<EventStream>();

  app.decorate('openEventStream', (reply: FastifyReply, options: EventStreamOptions): EventStream => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      ...(reply.getHeaders() as Record<string, string>),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // nginx buffers proxied responses unless told otherwise.
      'x-accel-buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    let closed = false;
    const closeListeners: Array<() => void> = [];
    const keepalive = setInterval(() => res.write(': keep-alive\n\n'), options.keepaliveMs);
    keepalive.unref();
    const deadline =
      options.endAt === undefined
        ? undefined
        : setTimeout(() => stream.end(), Math.max(0, options.endAt - Date.now()));
    deadline?.unref();
    const finish = () => {
      if (closed) return;
      closed = true;
      open.delete(stream);
      clearInterval(keepalive);
      if (deadline) clearTimeout(deadline);
      for (const listener of closeListeners) listener();
    };
    const stream: EventStream = {
      send(event, data) {
        if (!closed) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      },
      end() {
        if (!closed) res.end();
        finish();
      },
      get closed() {
        return closed;
      },
      onClose(listener) {
        if (closed) listener();
        else closeListeners.push(listener);
      },
    };
    res.once('close', finish);
    if (options.retryMs !== undefined) res.write(`retry: ${options.retryMs}\n\n`);
    else res.write(': open\n\n');
    open.add(stream);
    return stream;
  });

  app.addHook('preClose', async () => {
    for (const stream of [...open]) stream.end();
  });
}

export default fp(eventStreamsPlugin, { name: 'event-streams', fastify: '5.x' });
