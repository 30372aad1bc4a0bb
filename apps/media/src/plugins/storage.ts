/**
 * The S3 client media streams through: one keep-alive agent with a sized pool (so a burst of players cannot
 * open unbounded sockets to storage), connect/request/idle timeouts so a dead store fails fast, and checksum
 * settings that S3-compatible stores accept (aws-chunked bodies are mis-stored or refused: FACTS.md).
 */
import { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { MediaConfig } from '../config.js';
import { ObjectMetadataCache } from '../object-metadata-cache.js';

export interface Storage {
  client: S3Client;
  bucket: string;
  /** The pool's agents, exposed so tests can prove aborted reads give their sockets back. */
  agents: { http: Agent; https: HttpsAgent };
  metadata: ObjectMetadataCache;
  /** HeadBucket within the ready timeout. */
  reachable(): Promise<boolean>;
}

export function createStorage(config: MediaConfig): Storage {
  const agentOptions = { keepAlive: true, maxSockets: config.s3.maxSockets, maxFreeSockets: 64 };
  const agents = { http: new Agent(agentOptions), https: new HttpsAgent(agentOptions) };
  const client = new S3Client({
    endpoint: config.s3.endpoint,
    region: config.s3.region,
    forcePathStyle: config.s3.forcePathStyle,
    credentials: { accessKeyId: config.s3.accessKeyId, secretAccessKey: config.s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: config.s3.maxAttempts,
    requestHandler: new NodeHttpHandler({
      httpAgent: agents.http,
      httpsAgent: agents.https,
      connectionTimeout: config.s3.connectTimeoutMs,
      requestTimeout: config.s3.requestTimeoutMs,
      throwOnRequestTimeout: true,
      socketTimeout: config.s3.socketTimeoutMs,
    }),
  });
  return {
    client,
    bucket: config.s3.bucket,
    agents,
    metadata: new ObjectMetadataCache(config.metadataCacheEntries),
    reachable: async () => {
      try {
        await client.send(new HeadBucketCommand({ Bucket: config.s3.bucket }), {
          abortSignal: AbortSignal.timeout(config.readyTimeoutMs),
        });
        return true;
      } catch {
        return false;
      }
    },
  };
}

declare module 'fastify' {
  interface FastifyInstance {
    storage: Storage;
  }
}

export default fp(
  async (app: FastifyInstance, opts: { config: MediaConfig }) => {
    const storage = createStorage(opts.config);
    app.decorate('storage', storage);
    app.addHook('onClose', async () => {
      storage.client.destroy();
      storage.agents.http.destroy();
      storage.agents.https.destroy();
    });
  },
  { name: 'storage', fastify: '5.x' },
);
