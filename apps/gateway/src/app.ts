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
import type { GatewayConfig } from './config.js';
import attemptLimiter from './plugins/attempt-limiter.js';
import cors from './plugins/cors.js';
import csrf from './plugins/csrf.js';
import eventStreams from './plugins/event-streams.js';
import mediaClient from './plugins/media-client.js';
import metrics from './plugins/metrics.js';
import serviceClients from './plugins/service-clients.js';
import sessions from './plugins/sessions.js';
import signingKeys from './plugins/signing-keys.js';
import stores from './plugins/stores.js';
import users from './plugins/users.js';
import webPlayer from './plugins/web-player.js';
import accountRoutes from './routes/account.js';
import adminRoutes from './routes/admin.js';
import authRoutes from './routes/auth.js';
import jwksRoutes from './routes/jwks.js';
import mediaLibraryRoutes from './routes/media-library.js';
import mediaTokenRoutes from './routes/media-tokens.js';
import oauthRoutes from './routes/oauth.js';
import profileRoutes from './routes/profile.js';
import revocationFeedRoutes from './routes/revocation-feed.js';
import sessionEventRoutes from './routes/session-events.js';

export interface BuildOptions {
  /** Replaces the logger (tests capture log lines through a stream). */
  logger?: FastifyServerOptions['logger'];
}

export function loggerOptions(config: { logLevel: string }): FastifyServerOptions['logger'] {
  return {
    level: config.logLevel,
    // `err.command.args` is where ioredis errors carry the command's arguments (session records).
    redact: { paths: [...REDACT_PATHS, 'err.command.args', 'err.args'], censor: '[REDACTED]' },
    serializers: LOG_SERIALIZERS,
  };
}

const BODY_LIMIT_BYTES = 64 * 1024;

/**
 * The shared contract error handler, with one gateway rule: an oversized body is 400 `invalid_request`
 * (issue 2 asks for 400 on malformed, mistyped and oversized bodies alike), with the limit in the message.
 */
const sendGatewayError: typeof sendContractError = (error, request, reply) => {
  if ((error as { code?: unknown } | null)?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    sendContractError(
      {
        statusCode: 400,
        code: ErrorCode.invalidRequest,
        message: `the request body is too large (limit ${BODY_LIMIT_BYTES / 1024} KiB)`,
      },
      request,
      reply,
    );
    return;
  }
  sendContractError(error, request, reply);
};

export async function buildApp(config: GatewayConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...serverTimeoutOptions(config.server),
    logger: options.logger ?? loggerOptions(config),
    // Each request's child logger is made on its first line (packages/shared/src/request-logger.ts).
    childLoggerFactory: lazyRequestLoggers,
    // n hops: the socket's peer and the n − 1 proxies before it are believed, so the address is the n-th
    // from the right of X-Forwarded-For (what Fastify's numeric trustProxy does; its types omit numbers).
    trustProxy:
      typeof config.trustProxy === 'number'
        ? (
            (hops: number) => (_address: string, hop: number) =>
              hop < hops
          )(config.trustProxy)
        : config.trustProxy,
    bodyLimit: BODY_LIMIT_BYTES,
    // A wrong type is a 400, not silently coerced: `{"password": 123}` must not become "123".
    ajv: { customOptions: { coerceTypes: false } },
    // Errors met before routing (a URL that is not valid percent-encoding) get the contract's body too,
    // not Fastify's, which echoes the URL.
    frameworkErrors: (error, request, reply: FastifyReply) => sendGatewayError(error, request, reply),
  });
  logRuntime(app.log, 'gateway');
  capConnections(app.server, config.server.maxConnections, app.log);
  app.addSchema(errorBodySchema);
  await app.register(swagger, {
    openapi: { info: { title: 'stagedoor gateway', version: '0.1.0' } },
  });
  app.setErrorHandler(sendGatewayError);
  app.setNotFoundHandler(sendNotFound);
  await app.register(metrics, { listener: config.metrics });
  await app.register(cors, { config });
  await app.register(webPlayer, { config });
  await app.register(stores, { config });
  await app.register(users, { config });
  await app.register(attemptLimiter, { limits: config.loginRateLimit });
  await app.register(sessions, { config });
  await app.register(csrf, { config });
  await app.register(eventStreams);
  await app.register(healthRoutes(() => app.readinessChecks));
  await app.register(authRoutes);
  await app.register(accountRoutes);
  await app.register(adminRoutes);
  await app.register(profileRoutes);
  await app.register(signingKeys, { config });
  await app.register(serviceClients, { config });
  await app.register(mediaClient, { config });
  await app.register(jwksRoutes);
  await app.register(revocationFeedRoutes);
  await app.register(sessionEventRoutes);
  await app.register(oauthRoutes);
  await app.register(mediaTokenRoutes, { config });
  await app.register(mediaLibraryRoutes, {});
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
