/**
 * Several gateways on one Redis and several media replicas, for the revocation tests: the instances
 * share a key file, a cookie secret and a Redis key prefix, as a horizontally scaled deployment does.
 * Each media replica follows the revocation feed of one chosen gateway (its JWKS_URL's origin). A gateway
 * can be stopped and started again on the same port (the feed's outage and return).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { buildApp as buildGateway } from '@stagedoor/gateway';
import { loadGatewayConfig } from '@stagedoor/gateway/config';
import { buildApp as buildMedia } from '@stagedoor/media';
import { loadMediaConfig } from '@stagedoor/media/config';
import { startTestS3, type TestS3 } from '@stagedoor/testkit/s3';
import type { FastifyInstance } from 'fastify';
import { keySet, newPrivateJwk } from './keys.js';
import { deletePrefix, freePort, ISSUER, SESSION_SECRET, TEST_REDIS_URL } from './stack.js';

export interface GatewayInstance {
  url: string;
  port: number;
  app: FastifyInstance | null;
}

export interface MediaReplica {
  url: string;
  app: FastifyInstance;
}

export interface Replicas {
  gateways: GatewayInstance[];
  medias: MediaReplica[];
  redisPrefix: string;
  startMedia(gateway: GatewayInstance): Promise<MediaReplica>;
  stopGateway(gateway: GatewayInstance): Promise<void>;
  startGateway(gateway: GatewayInstance): Promise<void>;
  putObject(key: string, body: Uint8Array, contentType: string): Promise<void>;
  close(): Promise<void>;
}

export async function startReplicas(options: { gateways: number; medias: number }): Promise<Replicas> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-replicas-'));
  const keysFile = join(dir, 'signing-keys.json');
  writeFileSync(keysFile, JSON.stringify(keySet([newPrivateJwk('k1'), 'active'])), { mode: 0o600 });
  const redisPrefix = `itr${randomBytes(6).toString('hex')}:`;
  const s3: TestS3 = await startTestS3();
  const mediaUrl = 'http://media.test:8081';

  const gatewayEnv = {
    LOG_LEVEL: 'silent',
    SESSION_SECRETS: SESSION_SECRET,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: redisPrefix,
    DATA_DIR: dir,
    SIGNING_KEYS_FILE: keysFile,
    GATEWAY_PUBLIC_URL: ISSUER,
    MEDIA_PUBLIC_URL: mediaUrl,
    MEDIA_INTERNAL_URL: mediaUrl,
  };
  const gateways: GatewayInstance[] = [];
  const medias: MediaReplica[] = [];

  const startGateway = async (gateway: GatewayInstance) => {
    const app = await buildGateway(loadGatewayConfig(gatewayEnv), { logger: false });
    await app.listen({ host: '127.0.0.1', port: gateway.port });
    gateway.app = app;
  };
  for (let i = 0; i < options.gateways; i++) {
    const port = await freePort();
    const gateway: GatewayInstance = { url: `http://127.0.0.1:${port}`, port, app: null };
    await startGateway(gateway);
    gateways.push(gateway);
  }

  const startMedia = async (gateway: GatewayInstance) => {
    const app = await buildMedia(
      loadMediaConfig({
        LOG_LEVEL: 'silent',
        GATEWAY_PUBLIC_URL: ISSUER,
        JWKS_URL: `${gateway.url}/.well-known/jwks.json`,
        // Short reconnect delays: the outage test measures from the gateway's return.
        REVOCATION_RETRY_MIN_MS: '50',
        REVOCATION_RETRY_MAX_MS: '200',
        ...s3.env(),
      }),
      { logger: false },
    );
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const replica = { url, app };
    medias.push(replica);
    return replica;
  };
  for (let i = 0; i < options.medias; i++) {
    await startMedia(gateways[i % gateways.length] as GatewayInstance);
  }

  return {
    gateways,
    medias,
    redisPrefix,
    startMedia,
    startGateway,
    async stopGateway(gateway) {
      await gateway.app?.close();
      gateway.app = null;
    },
    async putObject(key, body, contentType) {
      await s3.client.send(
        new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body, ContentType: contentType }),
      );
    },
    async close() {
      for (const media of medias) await media.app.close();
      for (const gateway of gateways) await gateway.app?.close();
      await s3.stop();
      await deletePrefix(redisPrefix);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface SlowDownload {
  /** Bytes read so far. */
  readonly received: number;
  /** Resolves when the response ends, either way: `complete` is false when it was cut short. */
  readonly ended: Promise<{ complete: boolean; at: number }>;
  stop(): void;
}

/**
 * A GET read slowly (one chunk per `intervalMs`), so the object is still streaming when the test acts.
 * A slow reader keeps the socket buffers small, so a cut shows up quickly.
 */
export function slowDownload(url: string, intervalMs = 25): Promise<SlowDownload> {
  return new Promise((resolve, reject) => {
    let received = 0;
    let timer: NodeJS.Timeout | undefined;
    let finish: (v: { complete: boolean; at: number }) => void = () => undefined;
    const ended = new Promise<{ complete: boolean; at: number }>((r) => {
      finish = r;
    });
    const req = httpRequest(url, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`slow download answered ${res.statusCode}`));
        res.resume();
        return;
      }
      const length = Number(res.headers['content-length']);
      let done = false;
      const end = (complete: boolean) => {
        if (done) return;
        done = true;
        clearInterval(timer);
        finish({ complete, at: performance.now() });
      };
      res.pause();
      timer = setInterval(() => {
        let chunk: Buffer | null = res.read() as Buffer | null;
        if (chunk) received += chunk.length;
        // Reading one chunk a tick; `read()` also lets the stream notice its end.
        chunk = null;
      }, intervalMs);
      res.on('end', () => end(received === length));
      res.on('aborted', () => end(false));
      res.on('error', () => end(false));
      res.on('close', () => end(received === length));
      resolve({
        get received() {
          return received;
        },
        ended,
        stop: () => {
          clearInterval(timer);
          req.destroy();
        },
      });
    });
    req.on('error', (error) => {
      clearInterval(timer);
      finish({ complete: false, at: performance.now() });
      reject(error);
    });
    req.end();
  });
}
