/**
 * The OAuth clients allowed to use `POST /oauth/token` (client credentials, RFC 6749 §4.4).
 *
 * `SERVICE_CLIENTS_FILE` holds
 *   {"clients":[{"id":"ingest","secretHash":"$argon2id$v=19$m=19456,t=2,p=1$…","scopes":["media:write"]},
 *               {"id":"indexer","secretHash":"sha256:9f86d0…(64 hex)","scopes":["media:list","media:read"]}]}
 * plus, when demo fixtures are on (never in production), the contract's `demo-ingest` client and
 * `demo-media-feed` (scope `revocations:read`: media's default credential for the revocation feed).
 *
 * Two hash forms, both compared without revealing where they differ:
 * - `$argon2id$…` (PHC string): the safe choice for any secret a person chose or might reuse; verifying
 *   costs tens of milliseconds of CPU, which the failed-authentication rate limit keeps bounded.
 * - `sha256:<hex>`: only for a machine-generated secret of at least 256 bits (`openssl rand -base64 32`).
 *   Against such a secret a slow hash adds nothing — nobody can enumerate 2^256 candidates, fast or slow —
 *   and a cheap check keeps the endpoint from becoming a CPU sink. Compared with timingSafeEqual.
 * Client ids are `[A-Za-z0-9._~-]{1,64}`; `gateway` is reserved for the gateway's own service tokens.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { DEMO_REVOCATION_FEED_CLIENT, DEMO_SERVICE_CLIENT } from '@stagedoor/shared/demo';
import { ConfigError, parseJsonDocument } from '@stagedoor/shared/env';
import { SERVICE_SCOPES, type ServiceScope } from '@stagedoor/shared/tokens';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { GatewayConfig } from '../config.js';

/** The client id of the tokens the gateway mints for itself (GET /media/library). */
export const GATEWAY_CLIENT_ID = 'gateway';

const CLIENT_ID = /^[A-Za-z0-9._~-]{1,64}$/;
const SHA256_HASH = /^sha256:([0-9a-f]{64})$/;

export interface ServiceClient {
  id: string;
  scopes: readonly ServiceScope[];
}

interface StoredClient extends ServiceClient {
  secretHash: string;
}

export interface ServiceClientRegistry {
  /** The client when `secret` is its secret; null for an unknown id or a wrong secret (same cost). */
  authenticate(id: string, secret: string): Promise<ServiceClient | null>;
  /** Configured client ids (for logs and tests; never secrets). */
  ids(): string[];
  /** Secrets checked so far (each `authenticate` call computes one hash): what the limits bound. */
  secretChecks(): number;
}

declare module 'fastify' {
  interface FastifyInstance {
    serviceClients: ServiceClientRegistry;
  }
}

export interface ServiceClientsOptions {
  file: string | undefined;
  demoFixtures: boolean;
  /** Media's revocation feed credential (REVOCATION_CLIENT_ID/_SECRET): `revocations:read` only. */
  revocationFeedClient?: { id: string; secret: string } | undefined;
}

/** Validates the clients file; throws ConfigError listing every problem. */
export function parseServiceClients(text: string, where: string): StoredClient[] {
  const parsed = parseJsonDocument(text, where);
  const clients = (parsed as { clients?: unknown } | null)?.clients;
  if (!Array.isArray(clients)) throw new ConfigError([`${where} must be a JSON object {"clients":[…]}`]);
  const problems: string[] = [];
  const seen = new Set<string>();
  const result: StoredClient[] = [];
  clients.forEach((raw: unknown, index) => {
    const c = (raw ?? {}) as Record<string, unknown>;
    const name = `${where}: client ${typeof c.id === 'string' ? `"${c.id}"` : index + 1}`;
    const before = problems.length;
    if (typeof c.id !== 'string' || !CLIENT_ID.test(c.id)) {
      problems.push(`${name} needs an "id" of 1 to 64 characters from A-Z a-z 0-9 . _ ~ -`);
    } else if (c.id === GATEWAY_CLIENT_ID) problems.push(`${name}: the id "gateway" is reserved`);
    else if (seen.has(c.id)) problems.push(`${name} is listed twice`);
    else seen.add(c.id);
    if (
      typeof c.secretHash !== 'string' ||
      !(c.secretHash.startsWith('$argon2id$') || SHA256_HASH.test(c.secretHash))
    ) {
      problems.push(`${name} needs a "secretHash": an $argon2id$ PHC string or sha256:<64 hex digits>`);
    }
    if (
      !Array.isArray(c.scopes) ||
      c.scopes.length === 0 ||
      !c.scopes.every((s) => SERVICE_SCOPES.includes(s as ServiceScope))
    ) {
      problems.push(`${name} needs "scopes": a non-empty list from ${SERVICE_SCOPES.join(', ')}`);
    }
    if (problems.length > before) return;
    result.push({
      id: c.id as string,
      secretHash: c.secretHash as string,
      scopes: [...new Set(c.scopes as ServiceScope[])],
    });
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return result;
}

async function secretMatches(secretHash: string, secret: string): Promise<boolean> {
  const sha = SHA256_HASH.exec(secretHash);
  if (sha) {
    const expected = Buffer.from(sha[1] as string, 'hex');
    const actual = createHash('sha256').update(secret, 'utf8').digest();
    return timingSafeEqual(expected, actual);
  }
  try {
    return await argon2Verify(secretHash, secret);
  } catch {
    return false;
  }
}

export async function loadServiceClients(options: ServiceClientsOptions): Promise<ServiceClientRegistry> {
  const clients = new Map<string, StoredClient>();
  if (options.file) {
    let text: string;
    try {
      text = await readFile(options.file, 'utf8');
    } catch (error) {
      throw new ConfigError([
        `SERVICE_CLIENTS_FILE ${options.file} cannot be read (${(error as Error).message})`,
      ]);
    }
    for (const client of parseServiceClients(text, 'SERVICE_CLIENTS_FILE')) clients.set(client.id, client);
  }
  const feed = options.revocationFeedClient;
  if (feed !== undefined) {
    if (clients.has(feed.id) || feed.id === GATEWAY_CLIENT_ID) {
      throw new ConfigError([`REVOCATION_CLIENT_ID "${feed.id}" is already a client id`]);
    }
    const digest = createHash('sha256').update(feed.secret, 'utf8').digest('hex');
    clients.set(feed.id, { id: feed.id, scopes: ['revocations:read'], secretHash: `sha256:${digest}` });
  }
  for (const demo of options.demoFixtures ? [DEMO_SERVICE_CLIENT, DEMO_REVOCATION_FEED_CLIENT] : []) {
    if (clients.has(demo.id)) continue;
    clients.set(demo.id, {
      id: demo.id,
      scopes: [...demo.scopes],
      secretHash: await argon2Hash(demo.secret),
    });
  }
  // An unknown id is checked against this hash, so that it costs as much as a wrong secret and the
  // response time does not tell which client ids exist.
  const decoyHash = await argon2Hash(crypto.randomUUID());
  let checks = 0;
  return {
    authenticate: async (id, secret) => {
      checks++;
      const client = clients.get(id);
      const ok = await secretMatches(client?.secretHash ?? decoyHash, secret);
      return client && ok ? { id: client.id, scopes: client.scopes } : null;
    },
    ids: () => [...clients.keys()],
    secretChecks: () => checks,
  };
}

async function serviceClientsPlugin(app: FastifyInstance, options: { config: GatewayConfig }): Promise<void> {
  const registry = await loadServiceClients({
    file: options.config.serviceClientsFile,
    demoFixtures: options.config.demoFixtures,
    revocationFeedClient: options.config.revocationFeedClient,
  });
  app.decorate('serviceClients', registry);
  app.log.info({ clients: registry.ids() }, 'service clients loaded');
}

export default fp(serviceClientsPlugin, { name: 'service-clients', fastify: '5.x' });
