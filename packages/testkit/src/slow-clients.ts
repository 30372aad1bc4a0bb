/**
 * Clients that try to hold a server (issue 11 §6): one that trickles its request head (slowloris), one that
 * connects and says nothing, one that keeps an idle keep-alive socket, and a flood of idle sockets. Raw
 * sockets on loopback, so nothing in between hides what the server does.
 */
import { connect, type Socket } from 'node:net';

export interface Closed {
  /** Milliseconds from the start (connect, or the end of the response for keep-alive) to the server's close. */
  afterMs: number;
  /** The status line's code the server wrote before closing (0: none). */
  status: number;
  /** Every status code seen on the socket, in order. */
  statuses: number[];
  /** What followed the last response head. */
  body: string;
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

function whenClosed(socket: Socket, since: () => number, giveUpMs: number): Promise<Closed> {
  return new Promise((resolve, reject) => {
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.on('error', () => {});
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server had not closed the socket after ${giveUpMs} ms`));
    }, giveUpMs);
    socket.once('close', () => {
      clearTimeout(timer);
      const statuses = [...received.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
      const body = received.slice(received.lastIndexOf('\r\n\r\n') + 4);
      resolve({ afterMs: performance.now() - since(), status: statuses.at(-1) ?? 0, statuses, body });
    });
  });
}

/** Sends a request head one byte every `everyMs`, never finishing it, until the server closes. */
export async function trickleHead(
  port: number,
  options: { everyMs: number; giveUpMs: number },
): Promise<Closed> {
  const start = performance.now();
  const socket = await openSocket(port);
  const closed = whenClosed(socket, () => start, options.giveUpMs);
  socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
  const drip = setInterval(() => {
    if (socket.writable) socket.write('a');
  }, options.everyMs);
  try {
    return await closed;
  } finally {
    clearInterval(drip);
  }
}

/** Connects and sends nothing until the server closes. */
export async function sayNothing(port: number, options: { giveUpMs: number }): Promise<Closed> {
  const start = performance.now();
  const socket = await openSocket(port);
  return whenClosed(socket, () => start, options.giveUpMs);
}

/** One complete keep-alive request, then silence; `afterMs` counts from the end of the response. */
export async function idleAfterOneRequest(port: number, options: { giveUpMs: number }): Promise<Closed> {
  const socket = await openSocket(port);
  let answeredAt = Number.NaN;
  socket.on('data', () => {
    answeredAt = performance.now();
  });
  const closed = whenClosed(socket, () => answeredAt, options.giveUpMs);
  socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  return closed;
}

/**
 * Opens `count` sockets that send nothing, and resolves once each has connected (or been closed). A socket
 * refused at the server's cap is closed right after it connects: `closedByServer()` counts those.
 */
export async function idleSockets(
  port: number,
  count: number,
): Promise<{ closedByServer: () => number; allClosed: Promise<void>; destroy(): void }> {
  let closed = 0;
  let destroying = false;
  const sockets: Socket[] = [];
  const settled: Promise<void>[] = [];
  const closes: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    // Listeners first: a refused socket may be closed before a later one has even connected.
    const socket = connect({ port, host: '127.0.0.1' });
    socket.on('error', () => {});
    closes.push(
      new Promise((resolve) =>
        socket.once('close', () => {
          if (!destroying) closed++;
          resolve();
        }),
      ),
    );
    settled.push(
      new Promise((resolve) => {
        socket.once('connect', () => resolve());
        socket.once('close', () => resolve());
      }),
    );
    sockets.push(socket);
  }
  await Promise.all(settled);
  return {
    closedByServer: () => closed,
    allClosed: Promise.all(closes).then(() => undefined),
    destroy: () => {
      destroying = true;
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** A plain `GET path` on a fresh connection: the status code, or 0 if the server closed without one. */
export async function getStatus(port: number, path: string, giveUpMs = 5000): Promise<number> {
  const start = performance.now();
  let socket: Socket;
  try {
    socket = await openSocket(port);
  } catch {
    return 0;
  }
  const closed = whenClosed(socket, () => start, giveUpMs);
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  return (await closed).status;
}

/** Polls `probe` until it is true (a server's own count of connections, say), or fails after `giveUpMs`. */
export async function until(probe: () => boolean | Promise<boolean>, giveUpMs = 5000): Promise<void> {
  const deadline = performance.now() + giveUpMs;
  while (!(await probe())) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${giveUpMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
