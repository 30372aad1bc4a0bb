/**
 * How long a client may take and how many may be connected at once, for both apps' HTTP servers (issue 11
 * §6): a client that sends its request head slowly (slowloris) or opens sockets and sends nothing is cut
 * off after `headersTimeout`; an idle keep-alive socket after `keepAliveTimeout`; a request whose body has
 * not fully arrived after `requestTimeout`; connections beyond `maxConnections` are closed as they arrive.
 * No response is cut for being long or slow here; media bounds a client that takes nothing of an object
 * response (SEND_TIMEOUT_MS, serve-object.ts), since such a response holds a storage connection.
 */
import type { Server, Socket } from 'node:net';
import type { EnvReader } from './env.js';
import { ErrorCode } from './errors.js';

export interface ServerLimits {
  /** The whole request head must arrive within this (HEADERS_TIMEOUT_MS). */
  headersTimeoutMs: number;
  /** The whole request, body included, must arrive within this; 0 = no bound (REQUEST_TIMEOUT_MS). */
  requestTimeoutMs: number;
  /** An idle keep-alive socket is closed after this (KEEP_ALIVE_TIMEOUT_MS). */
  keepAliveTimeoutMs: number;
  /** Connections open at once; more are closed on arrival (MAX_CONNECTIONS). */
  maxConnections: number;
}

export function readServerLimits(env: EnvReader, defaults: ServerLimits): ServerLimits {
  const limits: ServerLimits = {
    headersTimeoutMs: env.int('HEADERS_TIMEOUT_MS', defaults.headersTimeoutMs, { min: 100, max: 120_000 }),
    requestTimeoutMs: env.int('REQUEST_TIMEOUT_MS', defaults.requestTimeoutMs, { min: 0, max: 86_400_000 }),
    keepAliveTimeoutMs: env.int('KEEP_ALIVE_TIMEOUT_MS', defaults.keepAliveTimeoutMs, {
      min: 100,
      max: 600_000,
    }),
    maxConnections: env.int('MAX_CONNECTIONS', defaults.maxConnections, { min: 1, max: 1_000_000 }),
  };
  if (limits.requestTimeoutMs !== 0 && limits.requestTimeoutMs < limits.headersTimeoutMs) {
    env.problem(
      'REQUEST_TIMEOUT_MS must be 0 or at least HEADERS_TIMEOUT_MS (the head is part of the request)',
    );
  }
  return limits;
}

/**
 * The Fastify options that apply the timeouts, and the answer a client gets when Node's parser gives up on
 * it. Node checks header and request deadlines on an interval (30 s by default, which would let a 10 s bound
 * stretch to 40 s): it runs at a quarter of the shortest bound here, so a deadline is enforced within 25 %
 * of its value (at most 5 s late).
 */
export function serverTimeoutOptions(limits: ServerLimits): {
  keepAliveTimeout: number;
  requestTimeout: number;
  http: { headersTimeout: number; connectionsCheckingInterval: number };
  clientErrorHandler: (
    this: { log: { debug(obj: object, msg: string): void } },
    err: Error,
    socket: Socket,
  ) => void;
} {
  const shortest = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs || Number.POSITIVE_INFINITY);
  return {
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      connectionsCheckingInterval: Math.max(25, Math.min(5000, Math.floor(shortest / 4))),
    },
    clientErrorHandler: answerClientError,
  };
}

const CLIENT_ERRORS: Record<string, [status: number, reason: string, message: string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'the request did not arrive in time'],
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', 'the request head is too large'],
};

/**
 * Fastify's default answer to a request Node's parser refused or timed out, with the contract's error body
 * (Fastify's own says `"error": "Request Timeout"`). The error is logged at debug level through the apps'
 * error serializer, which drops the raw request bytes.
 */
function answerClientError(
  this: { log: { debug(obj: object, msg: string): void } },
  err: Error,
  socket: Socket,
): void {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'ECONNRESET' || socket.destroyed) return;
  const [status, reason, message] = CLIENT_ERRORS[code] ?? [400, 'Bad Request', 'the request is malformed'];
  this.log.debug({ err }, 'client error');
  if (socket.writable) {
    const body = JSON.stringify({ error: ErrorCode.invalidRequest, message });
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/**
 * Caps the server's connections. Node closes a connection beyond the cap as it arrives and emits `drop`;
 * one warning per 10 s says so without letting a flood flood the log too.
 */
export function capConnections(
  server: Server,
  maxConnections: number,
  log: { warn(obj: object, msg: string): void },
): void {
  server.maxConnections = maxConnections;
  let lastWarning = 0;
  let dropped = 0;
  server.on('drop', () => {
    dropped++;
    const now = Date.now();
    if (now - lastWarning < 10_000) return;
    lastWarning = now;
    log.warn({ maxConnections, dropped }, 'connections refused: MAX_CONNECTIONS reached');
    dropped = 0;
  });
}
