import swagger from '@fastify/swagger';
import { sendContractError, sendNotFound } from '@stagedoor/shared/http-errors';
import { REDACT_PATHS, redactUrl } from '@stagedoor/shared/redact';
import { errorBodySchema } from '@stagedoor/shared/schemas';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { GatewayConfig } from './config.js';
import mediaClient from './plugins/media-client.js';
import serviceClients from './plugins/service-clients.js';
import signingKeys from './plugins/signing-keys.js';
import healthRoutes from './routes/health.js';
import jwksRoutes from './routes/jwks.js';

export interface BuildOptions {
  /** Replaces the logger (tests capture log lines through a stream). */
  logger?: FastifyServerOptions['logger'];
}

export function loggerOptions(config: { logLevel: string }): FastifyServerOptions['logger'] {
  return {
    level: config.logLevel,
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    serializers: {
      req: (req) => ({ method: req.method, url: redactUrl(req.url), remoteAddress: req.ip }),
    },
  };
}

export async function buildApp(config: GatewayConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? loggerOptions(config),
    trustProxy: config.trustProxy,
    bodyLimit: 64 * 1024,
    disableRequestLogging: false,
  });
  app.addSchema(errorBodySchema);
  await app.register(swagger, {
    openapi: { info: { title: 'stagedoor gateway', version: '0.1.0' } },
  });
  app.setErrorHandler(sendContractError);
  app.setNotFoundHandler(sendNotFound);
  await app.register(healthRoutes);
  await app.register(signingKeys, { config });
  await app.register(serviceClients, { config });
  await app.register(mediaClient, { config });
  await app.register(jwksRoutes);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
