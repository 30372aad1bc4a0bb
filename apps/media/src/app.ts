import swagger from '@fastify/swagger';
import { ErrorCode } from '@stagedoor/shared/errors';
import { healthRoutes } from '@stagedoor/shared/health';
import { sendContractError, sendNotFound } from '@stagedoor/shared/http-errors';
import { logRuntime } from '@stagedoor/shared/lifecycle';
import { LOG_SERIALIZERS, REDACT_PATHS } from '@stagedoor/shared/redact';
import { lazyRequestLoggers } from '@stagedoor/shared/request-logger';
import { errorBodySchema } from '@stagedoor/shared/schemas';
import { capConnections, serverTimeoutOptions } from '@stagedoor/shared/server-limits';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import type { MediaConfig } from './config.js';
import httpPolicy from './plugins/http-policy.js';
import metrics from './plugins/metrics.js';
import revocations from './plugins/revocations.js';
import storage from './plugins/storage.js';
import tokenVerifier, { type KeysStatus } from './plugins/token-verifier.js';
import catalogRoutes from './routes/catalog.js';
import objectRoutes from './routes/objects.js';
import uploadRoutes from './routes/uploads.js';

export interface BuildOptions {
  logger?: FastifyServerOptions['logger'];
  /** A pino-compatible logger instance (tests capture log lines with it). */
  loggerInstance?: FastifyServerOptions['loggerInstance'];
  /** The server's clock in ms since the epoch (token times, the JWKS cache's age, HTTP preconditions,
   * Cache-Control); tests inject one instead of waiting. */
  now?: () => number;
  /** Reconnect delays of the revocation feed after failures (tests inject short ones). */
  revocationFeedBackoffMs?: (attempt: number) => number;
}

export function loggerOptions(config: { logLevel: string }): FastifyServerOptions['logger'] {
  return {
    level: config.logLevel,
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    // Tokens travel in URLs (`?token=`, `/v1/t/<token>/`): no query and no carrier segment is ever logged.
    serializers: LOG_SERIALIZERS,
  };
}

export async function buildApp(config: MediaConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...serverTimeoutOptions(config.server),
    ...(options.loggerInstance
      ? { loggerInstance: options.loggerInstance }
      : { logger: options.logger ?? loggerOptions(config) }),
    // Each request's child logger is made on its first line (packages/shared/src/request-logger.ts).
    childLoggerFactory: lazyRequestLoggers,
    // A URL that is not valid percent-encoding gets the contract's body, not Fastify's (which echoes the
    // URL, token included).
    frameworkErrors: (error, request, reply: FastifyReply) => {
      const url = request.raw.url ?? '';
      const isObject = url.startsWith('/v1/objects/') || url.startsWith('/v1/t/');
      const code = isObject ? ErrorCode.invalidKey : ErrorCode.invalidRequest;
      const message =
        error.code === 'FST_ERR_BAD_URL'
          ? 'the URL is not correctly percent-encoded'
          : 'the request is malformed';
      // Routing never ran, so neither did the CORS plugin: an allowed player still gets to read the error.
      const origin = request.headers.origin;
      if (origin !== undefined && config.corsOrigins.includes(origin)) {
        reply.header('access-control-allow-origin', origin).header('vary', 'Origin');
      }
      reply
        .header('referrer-policy', 'no-referrer')
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'no-store')
        .code(400)
        .send({ error: code, message });
    },
  });
  logRuntime(app.log, 'media');
  capConnections(app.server, config.server.maxConnections, app.log);
  app.addSchema(errorBodySchema);
  await app.register(swagger, { openapi: { info: { title: 'stagedoor media', version: '0.1.0' } } });
  app.setErrorHandler(sendContractError);
  app.setNotFoundHandler(sendNotFound);
  await app.register(metrics, { listener: config.metrics });
  await app.register(httpPolicy, { config });
  const now = options.now ?? Date.now;
  await app.register(revocations, {
    config,
    nowSeconds: () => now() / 1000,
    ...(options.revocationFeedBackoffMs ? { backoffMs: options.revocationFeedBackoffMs } : {}),
  });
  await app.register(tokenVerifier, { config, nowSeconds: () => now() / 1000 });
  await app.register(storage, { config });
  // Both probes are bounded (READY_TIMEOUT_MS, JWKS_TIMEOUT_MS), so /readyz answers in bounded time.
  // With the gateway away, media still verifies with the last keys it saw and keeps serving (CONTRACT.md,
  // Revocation): not ready only when it holds no keys at all. A failed refresh and the revocation feed
  // are details: readiness stays 200 and says "degraded".
  let keys: KeysStatus = 'fresh';
  await app.register(
    healthRoutes(
      () => [
        { name: 'storage', check: () => whenTrue(app.storage.reachable()) },
        {
          name: 'verification keys',
          check: async () => {
            keys = await app.tokenVerifier.probeKeys();
            if (keys === 'none') throw new Error('no verification keys');
          },
        },
      ],
      () => [
        {
          name: 'verificationKeys',
          report: () => ({ ok: keys === 'fresh', state: keys === 'fresh' ? 'up' : 'stale' }),
        },
        {
          name: 'revocationFeed',
          report: () => {
            const { state, since } = app.revocations.feed();
            return { ok: state === 'up' || state === 'off', state, since: since.toISOString() };
          },
        },
      ],
    ),
  );
  await app.register(objectRoutes, { now });
  await app.register(catalogRoutes);
  await app.register(uploadRoutes, { config });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}

async function whenTrue(probe: Promise<boolean>): Promise<void> {
  if (!(await probe)) throw new Error('not reachable');
}
