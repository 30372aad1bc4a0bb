import { get, type IncomingMessage } from 'node:http';
/** Reading a Server-Sent Events response in tests: each event's name and parsed JSON data, in order. */
export interface SseEvent {
  event: string;
  data: unknown;
}

export interface SseReader {
  /** The next event (waits up to `timeoutMs`); null when the stream ended first. */
  next(timeoutMs?: number): Promise<SseEvent | null>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

/**
 * Opens `url` with node:http on a connection of its own (`agent: false`): closing it destroys exactly that
 * socket (fetch's pool may open a spare connection after an abort, which holds up `app.close()`).
 */
export async function openSse(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; reader: SseReader | null; body: unknown }> {
  const req = get(url, { headers: { accept: 'text/event-stream', ...headers }, agent: false });
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  res.setEncoding('utf8');
  if (res.statusCode !== 200) {
    let text = '';
    for await (const chunk of res) text += chunk;
    return { status: res.statusCode ?? 0, reader: null, body: JSON.parse(text || 'null') };
  }
  const queue: SseEvent[] = [];
  const waiters: Array<() => void> = [];
  let done = false;
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  const ended = (async () => {
    let buffer = '';
    try {
      for await (const chunk of res as AsyncIterable<string>) {
        buffer += chunk;
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf('\n\n');
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).trim());
          }
          if (data.length > 0) queue.push({ event, data: JSON.parse(data.join('\n')) });
        }
        wake();
      }
    } catch {
      // closed by close()
    } finally {
      done = true;
      wake();
    }
  })();
  return {
    status: 200,
    body: null,
    reader: {
      ended,
      close: () => req.destroy(),
      async next(timeoutMs = 2000) {
        const deadline = Date.now() + timeoutMs;
        while (queue.length === 0 && !done) {
          const left = deadline - Date.now();
          if (left <= 0) throw new Error('no event in time');
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, left);
            waiters.push(() => {
              clearTimeout(timer);
              resolve();
            });
          });
        }
        return queue.shift() ?? null;
      },
    },
  };
}
