/**
 * The apps' own configuration loaders, fed the environment each container would get (the image's ENV
 * under the compose file's `environment`): if an app starts requiring a variable that the compose stack
 * does not provide, in demo or in production mode, these tests fail. Also: the wiring the values
 * express (issuer, public URLs versus published ports, credentials), no misspelt variable names, and an
 * .env.example that documents every variable the compose files read.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadGatewayConfig } from '@stagedoor/gateway/config';
import { loadMediaConfig } from '@stagedoor/media/config';
import { describe, expect, it } from 'vitest';
import { loadComposeFiles, type Project, readComposeFile } from './support/compose.js';
import { finalStageEnv } from './support/dockerfile.js';
import { variableReferences } from './support/interpolate.js';
import {
  COMPOSE,
  COMPOSE_OPS,
  COMPOSE_PROD,
  ENV_EXAMPLE,
  IMAGES,
  OPERATOR_ENV,
  parseEnvFile,
  REPO_ROOT,
  read,
} from './support/repo.js';

type ImageService = keyof typeof IMAGES;

/** The environment a container of `name` starts with: its image's ENV, then compose's environment. */
function containerEnv(project: Project, name: ImageService): Record<string, string> {
  const image = finalStageEnv(read(IMAGES[name].dockerfile));
  return { ...image, ...(project.services[name]?.environment ?? {}) };
}

const demo = () => loadComposeFiles([COMPOSE], {}).project;
const production = () => loadComposeFiles([COMPOSE, COMPOSE_PROD], OPERATOR_ENV).project;

/** Problems the apps' loaders report for the stack's environment (empty: both start). */
function configProblems(project: Project): string[] {
  const problems: string[] = [];
  for (const [name, load] of [
    ['gateway', loadGatewayConfig],
    ['media', loadMediaConfig],
  ] as const) {
    try {
      load(containerEnv(project, name));
    } catch (error) {
      const list = (error as { problems?: string[] }).problems ?? [(error as Error).message];
      problems.push(...list.map((p) => `${name}: ${p}`));
    }
  }
  return problems;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory())
      return entry === 'node_modules' || entry === 'dist' ? [] : sourceFiles(path);
    return /\.(ts|mjs|js)$/.test(entry) ? [path] : [];
  });
}

/** Upper-case names that appear as string literals in the code a container runs. */
function namesReadBy(dirs: string[]): Set<string> {
  const names = new Set<string>();
  for (const file of dirs.flatMap((d) => sourceFiles(resolve(REPO_ROOT, d)))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/['"`]([A-Z][A-Z0-9_]{1,})['"`]/g))
      names.add(m[1] as string);
  }
  return names;
}

const CODE: Record<ImageService, string[]> = {
  gateway: ['apps/gateway/src', 'packages/shared/src'],
  media: ['apps/media/src', 'packages/shared/src'],
  bootstrap: ['packages/fixtures/src', 'packages/shared/src', 'infra/docker'],
};

/** Variables compose sets for a service that its code never reads: a misspelling, or a dead setting. */
function unreadVariables(project: Project, name: ImageService, read: Set<string>): string[] {
  return Object.keys(project.services[name]?.environment ?? {})
    .filter((v) => !read.has(v))
    .map((v) => `${name}: ${v} is set but never read`);
}

describe('the apps start with what the stack gives them', () => {
  it('demo mode: both configurations load, in development, with demo fixtures', () => {
    const project = demo();
    expect(configProblems(project)).toEqual([]);
    const gateway = loadGatewayConfig(containerEnv(project, 'gateway'));
    const media = loadMediaConfig(containerEnv(project, 'media'));
    expect(gateway.production).toBe(false);
    expect(gateway.demoFixtures).toBe(true);
    expect(media.production).toBe(false);
    expect(containerEnv(project, 'bootstrap').NODE_ENV).toBe('development');
  });

  it('demo mode with infra/.env copied from .env.example: both load', () => {
    const env = parseEnvFile(readFileSync(ENV_EXAMPLE, 'utf8'));
    const { project, interpolation } = loadComposeFiles([COMPOSE], env);
    expect(interpolation.errors).toEqual([]);
    expect(configProblems(project)).toEqual([]);
  });

  it('production mode: both load, in production, with secure cookies and the mounted signing keys', () => {
    const project = production();
    expect(configProblems(project)).toEqual([]);
    const gateway = loadGatewayConfig(containerEnv(project, 'gateway'));
    const media = loadMediaConfig(containerEnv(project, 'media'));
    expect(gateway.production).toBe(true);
    expect(gateway.demoFixtures).toBe(false);
    expect(gateway.session.cookieSecure).toBe(true);
    expect(gateway.session.cookieName).toBe('__Host-sid');
    expect(gateway.signingKeysFile).toBe('/run/secrets/signing_keys');
    expect(gateway.session.secrets).toEqual(OPERATOR_ENV.SESSION_SECRETS?.split(','));
    expect(media.production).toBe(true);
    // Media's revocation feed: the gateway's own link, and the credential the gateway registers.
    expect(media.revocationFeed?.url.toString()).toBe('http://gateway:8080/internal/revocations');
    expect(gateway.revocationFeedClient).toEqual({
      id: media.revocationFeed?.clientId,
      secret: media.revocationFeed?.clientSecret,
    });
  });

  it('fails when the stack stops providing what production requires', () => {
    for (const [service, variable] of [
      ['gateway', 'SESSION_SECRETS'],
      ['gateway', 'SIGNING_KEYS_FILE'],
      ['media', 'S3_ACCESS_KEY_ID'],
      ['media', 'REVOCATION_CLIENT_SECRET'],
    ] as const) {
      const project = structuredClone(production());
      delete project.services[service]?.environment[variable];
      const problems = configProblems(project);
      expect(problems.length, variable).toBeGreaterThan(0);
      expect(problems.join('\n'), variable).toContain(variable);
    }
  });
});

describe('wiring', () => {
  for (const [mode, load] of [
    ['demo', demo],
    ['production', production],
  ] as const) {
    it(`${mode}: media accepts the issuer the gateway signs with, and the gateway's origin for CORS`, () => {
      const project = load();
      const gateway = loadGatewayConfig(containerEnv(project, 'gateway'));
      const media = loadMediaConfig(containerEnv(project, 'media'));
      // The gateway signs with its public origin as `iss` (signing-keys plugin); media's TOKEN_ISSUER
      // defaults to the same origin, derived from the same GATEWAY_PUBLIC_URL.
      expect(media.issuer).toBe(gateway.publicUrl.origin);
      expect(media.corsOrigins).toContain(gateway.publicUrl.origin);
      expect(gateway.redisUrl && new URL(gateway.redisUrl).host).toBe('redis:6379');
      expect(gateway.mediaInternalUrl.origin).toBe('http://media:8081');
      expect('url' in media.jwks && media.jwks.url.href).toBe('http://gateway:8080/.well-known/jwks.json');
      expect(media.s3.endpoint).toBe('http://minio:9000/');
      expect(media.s3.forcePathStyle).toBe(true);
      expect(gateway.port).toBe(8080);
      expect(media.port).toBe(8081);
      expect(gateway.dataDir).toBe('/data');
      const minio = project.services.minio?.environment ?? {};
      expect(media.s3.accessKeyId).toBe(minio.MINIO_ROOT_USER);
      expect(media.s3.secretAccessKey).toBe(minio.MINIO_ROOT_PASSWORD);
      const bootstrap = containerEnv(project, 'bootstrap');
      expect(bootstrap.S3_BUCKET).toBe(media.s3.bucket);
      expect(bootstrap.S3_ENDPOINT).toBe('http://minio:9000');
    });
  }

  it('demo: the URLs browsers are given point at the published host ports', () => {
    for (const env of [{}, { GATEWAY_PORT: '9090', MEDIA_PORT: '9091' }]) {
      const { project } = loadComposeFiles([COMPOSE], env);
      const gateway = loadGatewayConfig(containerEnv(project, 'gateway'));
      expect(gateway.publicUrl.port).toBe(project.services.gateway?.ports[0]?.published);
      expect(gateway.mediaPublicUrl.port).toBe(project.services.media?.ports[0]?.published);
      expect(gateway.publicUrl.hostname).toBe('localhost');
    }
  });

  it('demo: both localhost and 127.0.0.1 are the gateway’s own origin, for the gateway and media', () => {
    const project = loadComposeFiles([COMPOSE], { GATEWAY_PORT: '9090' }).project;
    const gateway = loadGatewayConfig(containerEnv(project, 'gateway'));
    const media = loadMediaConfig(containerEnv(project, 'media'));
    expect(gateway.allowedOrigins).toEqual(['http://localhost:9090', 'http://127.0.0.1:9090']);
    expect(media.corsOrigins).toEqual(['http://localhost:9090', 'http://127.0.0.1:9090']);
  });

  it('production: the URLs browsers are given are the operator’s, and no other origin is allowed', () => {
    const project = production();
    const gateway = loadGatewayConfig(containerEnv(project, 'gateway'));
    const media = loadMediaConfig(containerEnv(project, 'media'));
    expect(gateway.publicUrl.origin).toBe(OPERATOR_ENV.GATEWAY_PUBLIC_URL);
    expect(gateway.mediaPublicUrl.origin).toBe(OPERATOR_ENV.MEDIA_PUBLIC_URL);
    expect(gateway.allowedOrigins).toEqual([OPERATOR_ENV.GATEWAY_PUBLIC_URL]);
    expect(media.corsOrigins).toEqual([OPERATOR_ENV.GATEWAY_PUBLIC_URL]);
  });
});

describe('variable names', () => {
  it('every variable compose sets for an app is one its code reads', () => {
    for (const project of [demo(), production()]) {
      for (const name of Object.keys(IMAGES) as ImageService[]) {
        expect(unreadVariables(project, name, namesReadBy(CODE[name]))).toEqual([]);
      }
    }
  });

  it('reports a misspelt variable', () => {
    const project = structuredClone(demo());
    const env = project.services.gateway?.environment ?? {};
    env.SESSION_SECRET = env.SESSION_SECRETS ?? '';
    expect(unreadVariables(project, 'gateway', namesReadBy(CODE.gateway))).toEqual([
      'gateway: SESSION_SECRET is set but never read',
    ]);
  });
});

/** Variables referenced but not documented, and documented but not referenced. */
function envExampleGaps(example: string, referenced: Set<string>): string[] {
  const documented = new Set(Object.keys(parseEnvFile(example)));
  return [
    ...[...referenced].filter((v) => !documented.has(v)).map((v) => `${v} is not in .env.example`),
    ...[...documented].filter((v) => !referenced.has(v)).map((v) => `${v} is documented but never read`),
  ];
}

/** Variables whose comment lines (directly above them) say REQUIRED-IN-PRODUCTION. */
function markedRequired(example: string): string[] {
  const lines = example.split(/\r?\n/);
  return Object.keys(parseEnvFile(example)).filter((name) => {
    for (
      let i = lines.findIndex((l) => l.startsWith(`${name}=`)) - 1;
      i >= 0 && lines[i]?.startsWith('#');
      i--
    ) {
      if (lines[i]?.includes('REQUIRED-IN-PRODUCTION')) return true;
    }
    return false;
  });
}

describe('infra/.env.example', () => {
  const example = readFileSync(ENV_EXAMPLE, 'utf8');
  const referenced = new Set(
    [COMPOSE, COMPOSE_PROD, COMPOSE_OPS].flatMap((f) => [...variableReferences(readComposeFile(f)).keys()]),
  );

  it('documents every variable the compose files read, and nothing they do not', () => {
    expect(envExampleGaps(example, referenced)).toEqual([]);
    const broken = example.replace(/^REDIS_PASSWORD=.*$/m, 'REDIS_PASSWRD=');
    expect(envExampleGaps(broken, referenced)).toEqual([
      'REDIS_PASSWORD is not in .env.example',
      'REDIS_PASSWRD is documented but never read',
    ]);
  });

  it('marks exactly the variables production requires as REQUIRED-IN-PRODUCTION', () => {
    expect(markedRequired(example).sort()).toEqual(Object.keys(OPERATOR_ENV).sort());
    const broken = example.replace('REQUIRED-IN-PRODUCTION: Redis password', 'Redis password');
    expect(markedRequired(broken)).not.toContain('REDIS_PASSWORD');
  });

  it('holds no secret values', () => {
    for (const name of Object.keys(OPERATOR_ENV)) expect(parseEnvFile(example)[name], name).toBe('');
  });
});
