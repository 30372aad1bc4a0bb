/**
 * Media's configuration: read once from the environment at start-up into one typed object; a bad value
 * fails start-up with every problem listed.
 */

import { DEMO_REVOCATION_FEED_CLIENT } from '@stagedoor/shared/demo';
import { type Env, EnvReader } from '@stagedoor/shared/env';
import { type MetricsListenerOptions, readMetricsListener } from '@stagedoor/shared/metrics';
import { REVOCATION_FEED_PATH } from '@stagedoor/shared/revocations';
import { readServerLimits, type ServerLimits } from '@stagedoor/shared/server-limits';
import { CLOCK_TOLERANCE_SECONDS } from '@stagedoor/shared/tokens';

export interface MediaConfig {
  production: boolean;
  host: string;
  port: number;
  logLevel: string;
  /** Origins allowed by CORS: CORS_ORIGINS, else the gateway's public origin(s). */
  corsOrigins: string[];
  /** The token issuer media accepts (the gateway's public URL). */
  issuer: string;
  jwks: { url: URL } | { file: string };
  /** Remote JWKS: how long keys are cached, the minimum gap between refetches for an unknown kid, fetch timeout. */
  jwksCacheMaxAgeSeconds: number;
  jwksCooldownSeconds: number;
  jwksTimeoutMs: number;
  /** Allowed clock skew for exp/nbf/iat (the contract caps it at 5 s). */
  clockToleranceSeconds: number;
  s3: {
    endpoint: string | undefined;
    region: string;
    bucket: string;
    accessKeyId: string;
    secretAccessKey: string;
    forcePathStyle: boolean;
    maxSockets: number;
    connectTimeoutMs: number;
    requestTimeoutMs: number;
    /** Idle time on a storage socket (also while a body streams) before it is given up. */
    socketTimeoutMs: number;
    maxAttempts: number;
  };
  /**
   * A client that takes nothing of an object response for this long is cut off (SEND_TIMEOUT_MS, nginx's
   * `send_timeout`): a paused reader holds a storage connection, and the pool is bounded.
   */
  sendTimeoutMs: number;
  maxUploadBytes: number;
  upload: { partBytes: number; queueSize: number };
  /** Entries of the object size/ETag cache used to answer suffix ranges. */
  metadataCacheEntries: number;
  /** Tokens remembered as verified (a player sends the same token with every range request); 0 = off. */
  tokenCacheEntries: number;
  /** Bound on each /readyz probe (storage and keys). */
  readyTimeoutMs: number;
  /** Slow and idle clients, and how many may be connected (HEADERS_TIMEOUT_MS, …, MAX_CONNECTIONS). */
  server: ServerLimits;
  /** The Prometheus listener (METRICS_PORT, METRICS_HOST); undefined: off. */
  metrics: MetricsListenerOptions | undefined;
  /** The gateway's revocation feed (null: REVOCATION_FEED_URL=off, tokens then live out their TTL). */
  revocationFeed: {
    url: URL;
    /** The gateway's /oauth/token, where media gets its service token for the feed. */
    tokenUrl: URL;
    clientId: string;
    clientSecret: string;
    /** Reconnect delays after a failure: exponential from min to max. */
    retryMinMs: number;
    retryMaxMs: number;
    connectTimeoutMs: number;
    /** How long start-up waits for the first snapshot before serving without it. */
    startupWaitMs: number;
  } | null;
}

export function loadMediaConfig(envVars: Env = process.env): MediaConfig {
  const env = new EnvReader(envVars);
  const production = env.string('NODE_ENV') === 'production';
  const gatewayUrl = env.url('GATEWAY_PUBLIC_URL', 'http://localhost:8080');
  const extraOwnOrigins = env
    .list('GATEWAY_EXTRA_ORIGINS')
    .map((o) => env.origin('GATEWAY_EXTRA_ORIGINS', o));
  const corsOrigins = env.list('CORS_ORIGINS').map((o) => env.origin('CORS_ORIGINS', o));
  const jwksUrl = env.url('JWKS_URL');
  const jwksFile = env.string('JWKS_FILE');
  if (jwksUrl && jwksFile) env.problem('set JWKS_URL or JWKS_FILE, not both');
  const jwks = jwksFile
    ? { file: jwksFile }
    : {
        url:
          jwksUrl ??
          new URL('/.well-known/jwks.json', env.string('GATEWAY_INTERNAL_URL', gatewayUrl.toString())),
      };
  // The feed comes over the same link as the JWKS: the gateway's internal base URL.
  const gatewayBase = jwksUrl ?? env.url('GATEWAY_INTERNAL_URL') ?? gatewayUrl;
  const feedOff = env.string('REVOCATION_FEED_URL') === 'off';
  const feedUrl = feedOff
    ? undefined
    : (env.url('REVOCATION_FEED_URL') ?? new URL(REVOCATION_FEED_PATH, gatewayBase));
  const feedClientId =
    env.string('REVOCATION_CLIENT_ID') ?? (production ? '' : DEMO_REVOCATION_FEED_CLIENT.id);
  const feedClientSecret =
    env.string('REVOCATION_CLIENT_SECRET') ?? (production ? '' : DEMO_REVOCATION_FEED_CLIENT.secret);
  if (production && !feedOff && (!feedClientId || !feedClientSecret)) {
    env.problem(
      'REVOCATION_CLIENT_ID and REVOCATION_CLIENT_SECRET are required when NODE_ENV=production (or REVOCATION_FEED_URL=off)',
    );
  }
  if (production && feedClientSecret === DEMO_REVOCATION_FEED_CLIENT.secret) {
    env.problem('REVOCATION_CLIENT_SECRET still holds the demo default; set a real secret in production');
  }
  const retryMinMs = env.int('REVOCATION_RETRY_MIN_MS', 100, { min: 10, max: 60_000 });
  const retryMaxMs = env.int('REVOCATION_RETRY_MAX_MS', 1000, { min: 10, max: 300_000 });
  if (retryMaxMs < retryMinMs)
    env.problem('REVOCATION_RETRY_MAX_MS must not be below REVOCATION_RETRY_MIN_MS');
  const accessKeyId = env.string('S3_ACCESS_KEY_ID') ?? (production ? '' : 'minioadmin');
  const secretAccessKey = env.string('S3_SECRET_ACCESS_KEY') ?? (production ? '' : 'minioadmin');
  if (production && (!accessKeyId || !secretAccessKey)) {
    env.problem('S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY are required when NODE_ENV=production');
  }
  if (production && !env.raw('S3_ENDPOINT') && !env.raw('S3_REGION')) {
    env.problem('S3_ENDPOINT or S3_REGION is required when NODE_ENV=production');
  }
  const port = env.port('PORT', env.port('MEDIA_PORT', 8081));
  const config: MediaConfig = {
    production,
    host: env.string('HOST', '0.0.0.0'),
    port,
    logLevel: env.string('LOG_LEVEL', 'info'),
    corsOrigins: [
      ...new Set([
        ...(corsOrigins.length > 0 ? [] : [gatewayUrl.origin, ...extraOwnOrigins]),
        ...corsOrigins,
      ]),
    ],
    issuer: env.string('TOKEN_ISSUER', gatewayUrl.origin),
    jwks,
    jwksCacheMaxAgeSeconds: env.int('JWKS_CACHE_MAX_AGE_SECONDS', 600, { min: 1, max: 86_400 }),
    jwksCooldownSeconds: env.int('JWKS_COOLDOWN_SECONDS', 30, { min: 0, max: 3600 }),
    jwksTimeoutMs: env.int('JWKS_TIMEOUT_MS', 3000, { min: 100, max: 60_000 }),
    clockToleranceSeconds: env.int('CLOCK_TOLERANCE_SECONDS', CLOCK_TOLERANCE_SECONDS, {
      min: 0,
      max: CLOCK_TOLERANCE_SECONDS,
    }),
    s3: {
      endpoint: env.url('S3_ENDPOINT')?.toString(),
      region: env.string('S3_REGION', 'us-east-1'),
      bucket: env.string('S3_BUCKET', 'media'),
      accessKeyId,
      secretAccessKey,
      forcePathStyle: env.bool('S3_FORCE_PATH_STYLE', true),
      maxSockets: env.int('S3_MAX_SOCKETS', 256, { min: 1, max: 10_000 }),
      connectTimeoutMs: env.int('S3_CONNECT_TIMEOUT_MS', 3000, { min: 100, max: 60_000 }),
      requestTimeoutMs: env.int('S3_REQUEST_TIMEOUT_MS', 10_000, { min: 100, max: 600_000 }),
      socketTimeoutMs: env.int('S3_SOCKET_TIMEOUT_MS', 60_000, { min: 100, max: 3_600_000 }),
      maxAttempts: env.int('S3_MAX_ATTEMPTS', 2, { min: 1, max: 10 }),
    },
    sendTimeoutMs: env.int('SEND_TIMEOUT_MS', 60_000, { min: 100, max: 3_600_000 }),
    maxUploadBytes: env.int('MAX_UPLOAD_BYTES', 5 * 1024 ** 3, { min: 1, max: 5 * 1024 ** 4 }),
    upload: {
      // S3 refuses multipart parts under 5 MiB (except the last); memory per upload is about partBytes × (queueSize + 1).
      partBytes: env.int('UPLOAD_PART_BYTES', 8 * 1024 ** 2, { min: 5 * 1024 ** 2, max: 512 * 1024 ** 2 }),
      queueSize: env.int('UPLOAD_QUEUE_SIZE', 2, { min: 1, max: 16 }),
    },
    metadataCacheEntries: env.int('METADATA_CACHE_ENTRIES', 1024, { min: 0, max: 1_000_000 }),
    tokenCacheEntries: env.int('TOKEN_CACHE_ENTRIES', 1024, { min: 0, max: 1_000_000 }),
    readyTimeoutMs: env.int('READY_TIMEOUT_MS', 2000, { min: 100, max: 60_000 }),
    // An upload's body is part of its request: an hour bounds a 5 GiB upload at ~1.5 MB/s.
    server: readServerLimits(env, {
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 3_600_000,
      keepAliveTimeoutMs: 5000,
      maxConnections: 10_000,
    }),
    metrics: readMetricsListener(env, port),
    revocationFeed: feedUrl
      ? {
          url: feedUrl,
          tokenUrl: env.url('REVOCATION_TOKEN_URL') ?? new URL('/oauth/token', feedUrl),
          clientId: feedClientId,
          clientSecret: feedClientSecret,
          retryMinMs,
          retryMaxMs,
          connectTimeoutMs: env.int('REVOCATION_TIMEOUT_MS', 5000, { min: 100, max: 60_000 }),
          startupWaitMs: env.int('REVOCATION_STARTUP_WAIT_MS', 5000, { min: 0, max: 600_000 }),
        }
      : null,
  };
  env.finish();
  return config;
}
