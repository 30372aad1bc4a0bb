/** Paths and shared inputs of the infra tests. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const INFRA_DIR = resolve(import.meta.dirname, '../..');
export const REPO_ROOT = resolve(INFRA_DIR, '..');
export const COMPOSE = resolve(INFRA_DIR, 'docker-compose.yml');
export const COMPOSE_PROD = resolve(INFRA_DIR, 'docker-compose.prod.yml');
export const COMPOSE_OPS = resolve(INFRA_DIR, 'docker-compose.ops.yml');
export const ENV_EXAMPLE = resolve(INFRA_DIR, '.env.example');

export const read = (path: string): string => readFileSync(resolve(REPO_ROOT, path), 'utf8');

export const rootPackage = JSON.parse(read('package.json')) as {
  packageManager: string;
  devDependencies: Record<string, string>;
  optionalDependencies: Record<string, string>;
};

/** `KEY=value` lines of an env file (no quotes or expansion: .env.example keeps to plain values). */
export function parseEnvFile(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split(/\r?\n/)
      .filter((l) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/**
 * What an operator supplies for production (docker-compose.prod.yml refuses to start without each).
 * Values are placeholders of the right shape, never real secrets.
 */
export const OPERATOR_ENV: Record<string, string> = {
  SESSION_SECRETS: 'test-only-session-secret-0123456789abcdefghij,test-only-old-secret-0123456789abcdefghij',
  REDIS_PASSWORD: '0123456789abcdef0123456789abcdef',
  MINIO_ROOT_USER: 'stagedoor-operator',
  MINIO_ROOT_PASSWORD: 'test-only-minio-password-0123456789',
  GATEWAY_PUBLIC_URL: 'https://stagedoor.example.com',
  MEDIA_PUBLIC_URL: 'https://media.stagedoor.example.com',
  SIGNING_KEYS_PATH: './secrets/signing-keys.json',
  REVOCATION_CLIENT_SECRET: 'test-only-feed-secret-0123456789abcdefghij',
};

/** The images each compose service builds, with what the image runs. */
export const IMAGES = {
  gateway: {
    dockerfile: 'infra/docker/gateway.Dockerfile',
    pkg: '@stagedoor/gateway',
    dir: 'apps/gateway',
    oneShot: false,
    port: 8080,
  },
  media: {
    dockerfile: 'infra/docker/media.Dockerfile',
    pkg: '@stagedoor/media',
    dir: 'apps/media',
    oneShot: false,
    port: 8081,
  },
  bootstrap: {
    dockerfile: 'infra/docker/bootstrap.Dockerfile',
    pkg: '@stagedoor/fixtures',
    dir: 'packages/fixtures',
    oneShot: true,
    port: undefined,
  },
} as const;
