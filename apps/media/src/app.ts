import swagger from '@fastify/swagger';
import { sendContractError, sendNotFound } from '@stagedoor/shared/http-errors';
import { REDACT_PATHS, redactUrl } from '@stagedoor/shared/redact';
import { errorBodySchema } from '@stagedoor/shared/schemas';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { MediaConfig } from './config.js';
import healthRoutes from './routes/health.js';

export interface BuildOptions {
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

export async function buildApp(config: MediaConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? loggerOptions(config) });
  app.addSchema(errorBodySchema);
  await app.register(swagger, { openapi: { info: { title: 'stagedoor media', version: '0.1.0' } } });
  app.setErrorHandler(sendContractError);
  app.setNotFoundHandler(sendNotFound);
  await app.register(healthRoutes);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
