/**
 * The gateway's token signing keys (CONTRACT.md, Tokens): Ed25519, each with a `kid`, exactly one active.
 *
 * Sources, first match wins:
 * - `SIGNING_KEYS_FILE`: a private JWK Set on disk (production; reloadable with SIGHUP or
 *   `app.signingKeys.reload()`, which is how a rotation step takes effect without a restart);
 * - `SIGNING_KEYS`: the same JSON in the environment (re-read on reload too, but an environment cannot
 *   change under a running process, so rotating it means a restart);
 * - neither (development only): one key generated on first start and kept at
 *   `<DATA_DIR>/signing-keys.json` (mode 0600, created atomically), so restarts do not invalidate tokens.
 *
 * Format — a JWK Set whose keys carry one extra member, `status`:
 *   {"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k-2026-11","x":"…","d":"…","status":"active"},
 *            {"kty":"OKP","crv":"Ed25519","kid":"k-2026-12","x":"…","d":"…","status":"published"},
 *            {"kty":"OKP","crv":"Ed25519","kid":"k-2026-10","x":"…","d":"…","status":"retired",
 *             "retiredAt":"2026-11-29T12:00:00Z"}]}
 * - `active`   (exactly one): signs every new token and is published;
 * - `published`: never signs, but is published — the next key (publish before activate) or the previous
 *   one while tokens it signed may still be alive;
 * - `retired`:  never signs; published only until `retiredAt` + the longest token lifetime + clock
 *   tolerance when `retiredAt` is given, otherwise not published at all.
 * Start-up (and every reload) refuses a set with a public-only or non-Ed25519 key, a `d` that does not
 * match its `x`, duplicate kids, or not exactly one active key; a failed reload keeps the previous set.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ConfigError, parseJsonDocument } from '@stagedoor/shared/env';
import {
  CLOCK_TOLERANCE_SECONDS,
  MAX_MEDIA_TOKEN_TTL_SECONDS,
  MAX_SERVICE_TOKEN_TTL_SECONDS,
} from '@stagedoor/shared/tokens';
import type { SigningKey } from '@stagedoor/shared/tokens/mint';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { GatewayConfig } from '../config.js';

export const KEY_STATUSES = ['active', 'published', 'retired'] as const;
export type KeyStatus = (typeof KEY_STATUSES)[number];

export const DEV_KEYS_FILE_NAME = 'signing-keys.json';

/** A public key as `/.well-known/jwks.json` serves it: nothing private, always `alg` and `use`. */
export interface PublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
}

interface LoadedKey {
  kid: string;
  status: KeyStatus;
  /** Seconds since the epoch; only for retired keys. */
  retiredAt: number | undefined;
  privateKey: KeyObject;
  publicJwk: PublicJwk;
}

export interface SigningKeySet {
  /** The token issuer (`iss`): the gateway's public origin, which media expects by default. */
  readonly issuer: string;
  /** Where the keys come from (`file`, `env` or `generated`). */
  readonly source: 'file' | 'env' | 'generated';
  /** The key that signs new tokens. */
  active(): SigningKey;
  /** Every public key that may still verify a live token (served at /.well-known/jwks.json). */
  publicKeys(nowSeconds?: number): PublicJwk[];
  /** Re-reads the source; an invalid set is refused and the previous one stays in use. */
  reload(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    signingKeys: SigningKeySet;
  }
}

export interface SigningKeysOptions {
  issuer: string;
  file: string | undefined;
  json: string | undefined;
  dataDir: string;
  /** Generation of a development key is refused in production. */
  production: boolean;
  /** The longest lifetime any token signed by a key may have (decides how long a retired key stays). */
  maxTokenLifetimeSeconds: number;
}

/** DER of a PKCS #8 Ed25519 private key up to its 32-byte seed (RFC 8410 §7). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const B64URL_32_BYTES = /^[A-Za-z0-9_-]{43}$/;
const KID = /^[\x21-\x7e]{1,128}$/;

function describe(index: number, kid: unknown): string {
  return typeof kid === 'string' ? `key "${kid}"` : `key ${index + 1}`;
}

/** Validates a private JWK Set with `status` members; throws ConfigError listing every problem. */
export function parseSigningKeySet(text: string, where: string): LoadedKey[] {
  const parsed = parseJsonDocument(text, where);
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new ConfigError([`${where} must be a JSON object {"keys":[…]} with at least one key`]);
  }
  const problems: string[] = [];
  const loaded: LoadedKey[] = [];
  const kids = new Set<string>();
  keys.forEach((raw: unknown, index) => {
    const jwk = (raw ?? {}) as Record<string, unknown>;
    const name = `${where}: ${describe(index, jwk.kid)}`;
    const before = problems.length;
    if (typeof jwk.kid !== 'string' || !KID.test(jwk.kid)) {
      problems.push(`${name} needs a "kid" of 1 to 128 printable ASCII characters`);
    } else if (kids.has(jwk.kid)) problems.push(`${name}: the kid is used twice`);
    else kids.add(jwk.kid);
    if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') problems.push(`${name} must be an Ed25519 key (kty OKP)`);
    if (typeof jwk.x !== 'string' || !B64URL_32_BYTES.test(jwk.x)) problems.push(`${name} has a bad "x"`);
    if (typeof jwk.d !== 'string' || !B64URL_32_BYTES.test(jwk.d)) {
      problems.push(`${name} must be a private key (a 32-byte "d")`);
    }
    if (jwk.alg !== undefined && jwk.alg !== 'EdDSA') problems.push(`${name}: "alg" must be EdDSA`);
    if (jwk.use !== undefined && jwk.use !== 'sig') problems.push(`${name}: "use" must be sig`);
    if (!KEY_STATUSES.includes(jwk.status as KeyStatus)) {
      problems.push(`${name} needs "status": one of ${KEY_STATUSES.join(', ')}`);
    }
    let retiredAt: number | undefined;
    if (jwk.retiredAt !== undefined) {
      const ms = typeof jwk.retiredAt === 'string' ? Date.parse(jwk.retiredAt) : Number.NaN;
      if (jwk.status !== 'retired') problems.push(`${name}: "retiredAt" is only for retired keys`);
      else if (Number.isNaN(ms)) problems.push(`${name}: "retiredAt" must be an ISO 8601 time`);
      else retiredAt = Math.floor(ms / 1000);
    }
    if (problems.length > before) return;
    // The key is built from "d" alone (PKCS #8 around the 32-byte seed), so that a "d" pasted next to the
    // wrong "x" is named as such on every Node.js: Node 24's JWK import refuses the pair itself, Node 20's
    // accepted it. Such a key would sign tokens that no published key verifies.
    const privateKey = createPrivateKey({
      key: Buffer.concat([ED25519_PKCS8_PREFIX, Buffer.from(jwk.d as string, 'base64url')]),
      format: 'der',
      type: 'pkcs8',
    });
    const derivedX = createPublicKey(privateKey).export({ format: 'jwk' }).x;
    if (derivedX === undefined || derivedX !== jwk.x) {
      problems.push(`${name}: "x" is not the public half of "d"`);
      return;
    }
    const kid = jwk.kid as string;
    loaded.push({
      kid,
      status: jwk.status as KeyStatus,
      retiredAt,
      privateKey,
      publicJwk: { kty: 'OKP', crv: 'Ed25519', x: derivedX, kid, alg: 'EdDSA', use: 'sig' },
    });
  });
  const active = loaded.filter((k) => k.status === 'active').length;
  if (problems.length === 0 && active !== 1) {
    problems.push(`${where} must mark exactly one key "status":"active" (found ${active})`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return loaded;
}

/** A fresh private JWK Set with one active key, as the development default and the runbook use it. */
export interface PrivateSigningJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  kid: string;
  x: string;
  d: string;
  alg: 'EdDSA';
  use: 'sig';
}

export function generateSigningKeyJwk(kid?: string): PrivateSigningJwk {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return {
    kty: 'OKP',
    crv: 'Ed25519',
    kid: kid ?? `dev-${new Date().toISOString().slice(0, 10)}-${randomBytes(4).toString('hex')}`,
    x: jwk.x as string,
    d: jwk.d as string,
    alg: 'EdDSA',
    use: 'sig',
  };
}

/**
 * Reads the development key file, creating it on first start. The file is written under a temporary
 * name with mode 0600 and then hard-linked into place: link() fails if the file exists, so two processes
 * starting at once both end up with the one key that won, and nobody ever reads a half-written file.
 */
async function readOrCreateDevKeys(dataDir: string): Promise<{ text: string; path: string }> {
  const path = join(dataDir, DEV_KEYS_FILE_NAME);
  try {
    return { text: await readFile(path, 'utf8'), path };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(
      `${JSON.stringify({ keys: [{ ...generateSigningKeyJwk(), status: 'active' }] }, null, 2)}\n`,
    );
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(temporary);
  }
  return { text: await readFile(path, 'utf8'), path };
}

export async function loadSigningKeySet(options: SigningKeysOptions): Promise<SigningKeySet> {
  const source: SigningKeySet['source'] = options.file ? 'file' : options.json ? 'env' : 'generated';
  if (source === 'generated' && options.production) {
    throw new ConfigError(['SIGNING_KEYS_FILE or SIGNING_KEYS is required when NODE_ENV=production']);
  }
  const read = async (): Promise<LoadedKey[]> => {
    if (options.file) {
      let text: string;
      try {
        text = await readFile(options.file, 'utf8');
      } catch (error) {
        throw new ConfigError([
          `SIGNING_KEYS_FILE ${options.file} cannot be read (${(error as Error).message})`,
        ]);
      }
      return parseSigningKeySet(text, 'SIGNING_KEYS_FILE');
    }
    if (options.json) return parseSigningKeySet(options.json, 'SIGNING_KEYS');
    const dev = await readOrCreateDevKeys(options.dataDir);
    return parseSigningKeySet(dev.text, dev.path);
  };
  let keys = await read();
  const activeOf = async (set: LoadedKey[]): Promise<SigningKey> => {
    const key = set.find((k) => k.status === 'active') as LoadedKey;
    return { kid: key.kid, privateKey: key.privateKey };
  };
  let active = await activeOf(keys);
  // A retired key must keep verifying every token it signed before retirement, plus clock skew.
  const retiredGraceSeconds = options.maxTokenLifetimeSeconds + CLOCK_TOLERANCE_SECONDS;
  return {
    issuer: options.issuer,
    source,
    active: () => active,
    publicKeys: (nowSeconds = Math.floor(Date.now() / 1000)) =>
      keys
        .filter(
          (k) =>
            k.status !== 'retired' ||
            (k.retiredAt !== undefined && nowSeconds < k.retiredAt + retiredGraceSeconds),
        )
        .map((k) => k.publicJwk),
    reload: async () => {
      const next = await read();
      const nextActive = await activeOf(next);
      keys = next;
      active = nextActive;
    },
  };
}

/** The longest lifetime of any token the gateway mints with the given media-token TTL. */
export function maxTokenLifetimeSeconds(mediaTokenTtlSeconds: number): number {
  return Math.max(Math.min(mediaTokenTtlSeconds, MAX_MEDIA_TOKEN_TTL_SECONDS), MAX_SERVICE_TOKEN_TTL_SECONDS);
}

async function signingKeysPlugin(app: FastifyInstance, options: { config: GatewayConfig }): Promise<void> {
  const { config } = options;
  const set = await loadSigningKeySet({
    // Media's TOKEN_ISSUER defaults to GATEWAY_PUBLIC_URL's origin: the two must agree.
    issuer: config.publicUrl.origin,
    file: config.signingKeysFile,
    json: config.signingKeysJson,
    dataDir: config.dataDir,
    production: config.production,
    maxTokenLifetimeSeconds: maxTokenLifetimeSeconds(config.mediaTokenTtlSeconds),
  });
  app.decorate('signingKeys', set);
  app.log.info({ source: set.source, kid: set.active().kid }, 'signing keys loaded');
  if (config.signingKeysFile) {
    const { mode } = await stat(config.signingKeysFile);
    if ((mode & 0o077) !== 0) {
      app.log.warn(
        { file: config.signingKeysFile, mode: (mode & 0o777).toString(8) },
        'SIGNING_KEYS_FILE is readable by group or others; it holds private keys (chmod 600)',
      );
    }
  }
  if (set.source === 'env') return;
  // SIGHUP re-reads the key file (the rotation steps); a bad file is logged and the old set kept.
  const onHangup = () => {
    set.reload().then(
      () => app.log.info({ kid: set.active().kid }, 'signing keys reloaded'),
      (error: unknown) =>
        app.log.error({ err: error }, 'signing keys reload refused; keeping the previous set'),
    );
  };
  process.on('SIGHUP', onHangup);
  app.addHook('onClose', async () => {
    process.off('SIGHUP', onHangup);
  });
}

export default fp(signingKeysPlugin, { name: 'signing-keys', fastify: '5.x' });
