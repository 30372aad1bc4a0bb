/**
 * The client's address as the gateway records and limits it. Behind TRUST_PROXY it comes from
 * `X-Forwarded-For`, which carries whatever the client put there before the proxy appended its own entry;
 * a value that is not an IP address (text, a token pasted into the header) is never recorded, logged,
 * shown in the devices list or used as a rate-limit source: the connection's own address is used instead.
 */
import { isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';

export function clientAddress(request: FastifyRequest): string {
  const ip = request.ip;
  return isIP(ip) !== 0 ? ip : (request.socket.remoteAddress ?? '');
}
