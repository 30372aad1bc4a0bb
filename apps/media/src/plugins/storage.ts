/**
 * Storage for media. Objects are read through `ObjectStore`: signed GET/HEAD requests on its own sized
 * keep-alive pool (so a burst of players cannot open unbounded sockets to storage), with pooled read buffers
 * and none of the SDK's per-request cost. Listing and uploads (service routes: multipart, XML) use the AWS
 * SDK on a keep-alive agent of the same size, loaded on first use, so a media process that only streams never
 * carries it (~20 MB of RSS). Both have connect/request/idle timeouts so a dead store fails fast, and the
 * SDK's checksum settings are the ones S3-compatible stores accept (aws-chunked bodies are mis-stored or
 * refused: FACTS.md).
 */
import { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { S3Client } from '@aws-sdk/client-s3';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { MediaConfig } from '../config.js';
import { ObjectMetadataCache } from '../object-metadata-cache.js';
import { ObjectStore } from '../object-store.js';
import type { StorageObserver } from './metrics.js';

type S3Module = typeof import('@aws-sdk/client-s3');
type UploadModule = typeof import('@aws-sdk/lib-storage');

/** The AWS SDK for the service routes. */
export interface StorageSdk {
  client: S3Client;
  s3: S3Module;
  Upload: UploadModule['Upload'];
}

export interface Storage {
  store: ObjectStore;
  bucket: string;
  metadata: ObjectMetadataCache;
  /** How long an object response may go without the client taking any of it (SEND_TIMEOUT_MS). */
  sendTimeoutMs: number;
  /** The SDK client (its own agent of the same size, same timeouts), created on first use. */
  sdk(): Promise<StorageSdk>;
  /** True if the SDK has been loaded (tests prove streaming never loads it). */
  readonly sdkLoaded: boolean;
  /** HeadBucket within the ready timeout. */
  reachable(): Promise<boolean>;
  close(): void;
}

/** Idle keep-alive connections to storage are closed after this long (a stale one is retried anyway). */
const FREE_SOCKET_TIMEOUT_MS = 15_000;
const MAX_FREE_SOCKETS = 64;

export function createStorage(config: MediaConfig, observe?: StorageObserver): Storage {
  const agentOptions = {
    keepAlive: true,
    maxSockets: config.s3.maxSockets,
    maxFreeSockets: MAX_FREE_SOCKETS,
  };
  const agents = { http: new Agent(agentOptions), https: new HttpsAgent(agentOptions) };
  const credentials = { accessKeyId: config.s3.accessKeyId, secretAccessKey: config.s3.secretAccessKey };
  const store = new ObjectStore({
    endpoint: config.s3.endpoint,
    region: config.s3.region,
    bucket: config.s3.bucket,
    forcePathStyle: config.s3.forcePathStyle,
    credentials,
    maxSockets: config.s3.maxSockets,
    maxFreeSockets: MAX_FREE_SOCKETS,
    freeSocketTimeoutMs: FREE_SOCKET_TIMEOUT_MS,
    connectTimeoutMs: config.s3.connectTimeoutMs,
    requestTimeoutMs: config.s3.requestTimeoutMs,
    socketTimeoutMs: config.s3.socketTimeoutMs,
    maxAttempts: config.s3.maxAttempts,
    observe,
  });

  let sdk: Promise<StorageSdk> | undefined;
  let loaded: StorageSdk | undefined;
  const loadSdk = async (): Promise<StorageSdk> => {
    const [s3, { Upload }, { NodeHttpHandler }] = await Promise.all([
      import('@aws-sdk/client-s3'),
      import('@aws-sdk/lib-storage'),
      import('@smithy/node-http-handler'),
    ]);
    const client = new s3.S3Client({
      endpoint: config.s3.endpoint,
      region: config.s3.region,
      forcePathStyle: config.s3.forcePathStyle,
      credentials,
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
    if (observe) observeSdk(client, observe);
    loaded = { client, s3, Upload };
    return loaded;
  };

  return {
    store,
    bucket: config.s3.bucket,
    metadata: new ObjectMetadataCache(config.metadataCacheEntries),
    sendTimeoutMs: config.sendTimeoutMs,
    sdk: () => {
      sdk ??= loadSdk().catch((error: unknown) => {
        sdk = undefined;
        throw error;
      });
      return sdk;
    },
    get sdkLoaded() {
      return loaded !== undefined;
    },
    reachable: async () => {
      try {
        await store.headBucket(AbortSignal.timeout(config.readyTimeoutMs));
        return true;
      } catch {
        return false;
      }
    },
    close: () => {
      store.close();
      loaded?.client.destroy();
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

/** Each SDK call (listing, upload parts), timed like the object reads: operation, HTTP status, seconds. */
function observeSdk(client: S3Client, observe: StorageObserver): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = String(context.commandName ?? 'unknown').replace(/Command$/, '');
      const started = performance.now();
      try {
        const result = await next(args);
        const status = (result.response as { statusCode?: number } | undefined)?.statusCode;
        observe(
          operation,
          status === undefined ? 'error' : String(status),
          (performance.now() - started) / 1000,
        );
        return result;
      } catch (error) {
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        observe(
          operation,
          status === undefined ? 'error' : String(status),
          (performance.now() - started) / 1000,
        );
        throw error;
      }
    },
    { step: 'deserialize', name: 'stagedoorStorageMetrics' },
  );
}

declare module 'fastify' {
  interface FastifyInstance {
    storage: Storage;
  }
}

export default fp(
  async (app: FastifyInstance, opts: { config: MediaConfig }) => {
    const storage = createStorage(opts.config, app.metrics?.observeStorage);
    app.decorate('storage', storage);
    app.addHook('onClose', async () => storage.close());
  },
  { name: 'storage', fastify: '5.x' },
);
