/**
 * The gateway's configuration: read once from the environment at start-up into one typed object. A bad
 * value fails start-up with every problem listed (see `EnvReader`).
 */
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { DEMO_REVOCATION_FEED_CLIENT } from '@stagedoor/shared/demo';
import { type Env, EnvReader } from '@stagedoor/shared/env';
import { type MetricsListenerOptions, readMetricsListener } from '@stagedoor/shared/metrics';
import { readServerLimits, type ServerLimits } from '@stagedoor/shared/server-limits';
import { DEFAULT_MEDIA_TOKEN_TTL_SECONDS, MAX_MEDIA_TOKEN_TTL_SECONDS } from '@stagedoor/shared/tokens';
import type { AttemptLimits } from './plugins/attempt-limiter.js';

/** Secrets that ship in the repository for development; production refuses to start with them. */
export const DEV_SESSION_SECRET = 'dev-only-session-secret-do-not-use-in-production-0123456789';

export interface GatewayConfig {
  production: boolean;
  host: string;
  port: number;
  logLevel: string;
  /** `redis://…`; undefined means process memory (the embedded default). */
  redisUrl: string | undefined;
  /** How long start-up waits for Redis before starting without it (REDIS_STARTUP_WAIT_MS). */
  redisStartupWaitMs: number;
  /** REDIS_URL names a seed node of a Redis Cluster (keys are laid out for it; see README). */
  redisCluster: boolean;
  /** Key prefix for everything the gateway keeps in Redis (lets tests and tenants share one server). */
  redisPrefix: string;
  session: {
    /** Newest first: cookies are signed with [0] and verified with any. */
    secrets: string[];
    idleSeconds: number;
    maxSeconds: number;
    /** How often a session's lastSeenAt / idle extension may be written. */
    touchIntervalSeconds: number;
    cookieSecure: boolean;
    cookieName: 'sid' | '__Host-sid';
  };
  /** The gateway's own origin(s) plus CORS_ORIGINS: the allowed browser origins. */
  publicUrl: URL;
  allowedOrigins: string[];
  corsOrigins: string[];
  mediaPublicUrl: URL;
  mediaInternalUrl: URL;
  mediaTokenTtlSeconds: number;
  /** Seed the contract's demo users, service client and so on (never in production). */
  demoFixtures: boolean;
  /**
   * Which `X-Forwarded-For` entries to believe (Fastify's `trustProxy`): false (none), a number of proxy
   * hops in front of the gateway, or the proxies' addresses/CIDRs. `TRUST_PROXY=true` means one hop.
   */
  trustProxy: false | number | string[];
  /** Slow and idle clients, and how many may be connected (HEADERS_TIMEOUT_MS, …, MAX_CONNECTIONS). */
  server: ServerLimits;
  /** Failed sign-ins and client authentications (see plugins/attempt-limiter.ts). */
  loginRateLimit: AttemptLimits;
  /** Argon2id cost for new password hashes (never below OWASP's minimum: 19 MiB, t=2, p=1). */
  passwordHashing: { memoryKiB: number; timeCost: number; maxConcurrent: number };
  dataDir: string;
  signingKeysFile: string | undefined;
  signingKeysJson: string | undefined;
  serviceClientsFile: string | undefined;
  /** The Prometheus listener (METRICS_PORT, METRICS_HOST); undefined: off. */
  metrics: MetricsListenerOptions | undefined;
  /**
   * Media's credential for the revocation feed, when configured here (REVOCATION_CLIENT_ID/_SECRET, the
   * same pair media is given): registered as a service client with `revocations:read` only.
   */
  revocationFeedClient: { id: string; secret: string } | undefined;
}

/** The account-and-IP allowance defaults to 10 but never above the per-account ceiling. */
function loginRateLimit(env: EnvReader): AttemptLimits {
  const perAccount = env.int('LOGIN_MAX_FAILURES_PER_ACCOUNT', 100, { min: 1, max: 100_000 });
  const perAccountAndIp = env.int('LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_IP', Math.min(10, perAccount), {
    min: 1,
    max: 100_000,
  });
  if (perAccountAndIp > perAccount) {
    env.problem(
      'LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_IP must not exceed LOGIN_MAX_FAILURES_PER_ACCOUNT (the ceiling)',
    );
  }
  return {
    perAccountAndIp,
    perIp: env.int('LOGIN_MAX_FAILURES_PER_IP', 100, { min: 1, max: 100_000 }),
    perAccount,
    windowSeconds: env.int('LOGIN_FAILURE_WINDOW_SECONDS', 15 * 60, { min: 1, max: 24 * 3600 }),
  };
}

export function loadGatewayConfig(envVars: Env = process.env): GatewayConfig {
  const env = new EnvReader(envVars);
  const production = env.string('NODE_ENV') === 'production';
  const secrets = env.list('SESSION_SECRETS');
  if (secrets.length === 0) {
    if (production) env.problem('SESSION_SECRETS is required when NODE_ENV=production');
    else secrets.push(DEV_SESSION_SECRET);
  }
  for (const [i, secret] of secrets.entries()) {
    // 32 characters of an operator's random string carry at least 128 bits in any reasonable alphabet.
    if (secret.length < 32) env.problem(`SESSION_SECRETS entry ${i + 1} must be at least 32 characters`);
    if (production && secret === DEV_SESSION_SECRET) {
      env.problem('SESSION_SECRETS still holds the development default; set a real secret in production');
    }
  }
  const idleSeconds = env.int('SESSION_IDLE_SECONDS', 30 * 60, { min: 10, max: 30 * 24 * 3600 });
  const maxSeconds = env.int('SESSION_MAX_SECONDS', 12 * 3600, { min: 10, max: 365 * 24 * 3600 });
  if (maxSeconds < idleSeconds)
    env.problem('SESSION_MAX_SECONDS must not be shorter than SESSION_IDLE_SECONDS');
  const cookieSecure = env.bool('COOKIE_SECURE', production);
  const publicUrl = env.url('GATEWAY_PUBLIC_URL', 'http://localhost:8080');
  const corsOrigins = env.list('CORS_ORIGINS').map((o) => env.origin('CORS_ORIGINS', o));
  const extraOwnOrigins = env
    .list('GATEWAY_EXTRA_ORIGINS')
    .map((o) => env.origin('GATEWAY_EXTRA_ORIGINS', o));
  const mediaPublicUrl = env.url('MEDIA_PUBLIC_URL', 'http://localhost:8081');
  const mediaInternalUrl = env.url('MEDIA_INTERNAL_URL') ?? mediaPublicUrl;
  const demoFixtures = !production && env.bool('DEMO_FIXTURES', true);
  const port = env.port('PORT', env.port('GATEWAY_PORT', 8080));
  const feedClientId = env.string('REVOCATION_CLIENT_ID');
  const feedClientSecret = env.string('REVOCATION_CLIENT_SECRET');
  if ((feedClientId === undefined) !== (feedClientSecret === undefined)) {
    env.problem(
      "set REVOCATION_CLIENT_ID and REVOCATION_CLIENT_SECRET together (media's revocation feed credential)",
    );
  }
  if (feedClientId !== undefined && !/^[A-Za-z0-9._~-]{1,64}$/.test(feedClientId)) {
    env.problem('REVOCATION_CLIENT_ID must be 1 to 64 characters from A-Z a-z 0-9 . _ ~ -');
  }
  // Checked with SHA-256 (see service-clients.ts): only a machine-generated secret of 256 bits or more.
  if (feedClientSecret !== undefined && feedClientSecret.length < 32) {
    env.problem('REVOCATION_CLIENT_SECRET must be at least 32 characters (openssl rand -base64 32)');
  }
  if (production && feedClientSecret === DEMO_REVOCATION_FEED_CLIENT.secret) {
    env.problem('REVOCATION_CLIENT_SECRET still holds the demo default; set a real secret in production');
  }
  const config: GatewayConfig = {
    production,
    host: env.string('HOST', '0.0.0.0'),
    port,
    logLevel: env.string('LOG_LEVEL', 'info'),
    redisUrl: env.url('REDIS_URL')?.toString(),
    redisCluster: env.bool('REDIS_CLUSTER', false),
    redisStartupWaitMs: env.int('REDIS_STARTUP_WAIT_MS', 5_000, { min: 0, max: 600_000 }),
    redisPrefix: env.string('REDIS_PREFIX', 'sd:'),
    session: {
      secrets,
      idleSeconds,
      maxSeconds,
      touchIntervalSeconds: env.int('SESSION_TOUCH_SECONDS', 60, { min: 1, max: 3600 }),
      cookieSecure,
      cookieName: cookieSecure ? '__Host-sid' : 'sid',
    },
    publicUrl,
    allowedOrigins: [...new Set([publicUrl.origin, ...extraOwnOrigins, ...corsOrigins])],
    corsOrigins,
    mediaPublicUrl,
    mediaInternalUrl,
    mediaTokenTtlSeconds: env.int('MEDIA_TOKEN_TTL_SECONDS', DEFAULT_MEDIA_TOKEN_TTL_SECONDS, {
      min: 1,
      max: MAX_MEDIA_TOKEN_TTL_SECONDS,
    }),
    demoFixtures,
    trustProxy: readTrustProxy(env),
    // Gateway bodies are at most 64 KiB, so 30 s for a whole request is generous.
    server: readServerLimits(env, {
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5000,
      maxConnections: 10_000,
    }),
    loginRateLimit: loginRateLimit(env),
    passwordHashing: {
      memoryKiB: env.int('ARGON2_MEMORY_KIB', 19_456, { min: 19_456, max: 4 * 1024 * 1024 }),
      timeCost: env.int('ARGON2_TIME_COST', 2, { min: 2, max: 100 }),
      maxConcurrent: env.int('ARGON2_MAX_CONCURRENCY', Math.max(1, availableParallelism() - 1), {
        min: 1,
        max: 64,
      }),
    },
    dataDir: env.string('DATA_DIR', '.data/gateway'),
    signingKeysFile: env.string('SIGNING_KEYS_FILE'),
    signingKeysJson: env.string('SIGNING_KEYS'),
    serviceClientsFile: env.string('SERVICE_CLIENTS_FILE'),
    metrics: readMetricsListener(env, port),
    revocationFeedClient:
      feedClientId !== undefined && feedClientSecret !== undefined
        ? { id: feedClientId, secret: feedClientSecret }
        : undefined,
  };
  if (config.redisCluster && config.redisUrl === undefined) env.problem('REDIS_CLUSTER=true needs REDIS_URL');
  if (config.redisCluster && config.redisUrl && !/^\/?0?$/.test(new URL(config.redisUrl).pathname)) {
    env.problem(
      'REDIS_URL must not select a database index with REDIS_CLUSTER=true (a Cluster has only db 0)',
    );
  }
  if (production && !config.signingKeysFile && !config.signingKeysJson) {
    env.problem('SIGNING_KEYS_FILE or SIGNING_KEYS is required when NODE_ENV=production');
  }
  env.finish();
  return config;
}

/**
 * TRUST_PROXY. `true` used to mean "trust every X-Forwarded-For entry", which lets a client behind the
 * proxy choose its own address (the proxy appends the real one after what the client sent) and so step
 * around every per-source limit. Now `true` is one hop (the proxy right in front); a number is that many
 * hops; anything else is a comma-separated list of the proxies' addresses or CIDRs.
 */
function readTrustProxy(env: EnvReader): false | number | string[] {
  const raw = env.list('TRUST_PROXY');
  if (raw.length === 0) return false;
  if (raw.length === 1) {
    const one = (raw[0] as string).toLowerCase();
    if (['false', '0', 'no', 'off'].includes(one)) return false;
    if (['true', 'yes', 'on'].includes(one)) return 1;
    if (/^[1-9]\d{0,1}$/.test(one)) return Number(one);
  }
  const bad = raw.filter((entry) => {
    const [address, bits, ...rest] = entry.split('/');
    if (rest.length > 0 || address === undefined || isIP(address) === 0) return true;
    if (bits === undefined) return false;
    const max = isIP(address) === 4 ? 32 : 128;
    return !/^\d{1,3}$/.test(bits) || Number(bits) > max;
  });
  if (bad.length > 0) {
    env.problem(
      `TRUST_PROXY must be true, false, a number of proxy hops (1-99), or proxy addresses/CIDRs (not: ${bad.join(', ')})`,
    );
    return false;
  }
  return raw;
}
