// biome-ignore-all lint/suspicious/noTemplateCurlyInString: compose interpolation syntax is the subject of these tests
/**
 * The compose files, checked offline: the compose-spec JSON schema, then what the schema cannot see
 * (references, the network architecture, published ports, healthchecks, pinned images, endpoints,
 * production secrets). Every check is also run on a deliberately broken copy, to prove it can fail.
 */
import { describe, expect, it } from 'vitest';
import {
  type LoadedProject,
  loadComposeFiles,
  loadDocs,
  type Project,
  readComposeFile,
  schemaProblems,
} from './support/compose.js';
import {
  ARCHITECTURE,
  checkAll,
  checkBuilds,
  checkDeclarations,
  checkDependsOn,
  checkEndpoints,
  checkHealthAndRestart,
  checkImagesPinned,
  checkLoopbackOnly,
  checkNetworkRules,
  checkNoPublishedPorts,
  peers,
} from './support/compose-checks.js';
import { interpolateString, variableReferences } from './support/interpolate.js';
import { COMPOSE, COMPOSE_OPS, COMPOSE_PROD, INFRA_DIR, OPERATOR_ENV } from './support/repo.js';

const demo = (): LoadedProject => loadComposeFiles([COMPOSE], {});
const production = (env: Record<string, string> = OPERATOR_ENV): LoadedProject =>
  loadComposeFiles([COMPOSE, COMPOSE_PROD], env);
const withOps = (): LoadedProject => loadComposeFiles([COMPOSE, COMPOSE_OPS], {});

/** A deep copy to break on purpose. */
const copy = (project: Project): Project => structuredClone(project);

const service = (project: Project, name: string) => {
  const s = project.services[name];
  if (!s) throw new Error(`no service ${name}`);
  return s;
};

describe('compose-spec JSON schema (dclint bundle, ajv allErrors)', () => {
  for (const file of [COMPOSE, COMPOSE_PROD, COMPOSE_OPS]) {
    it(`${file.slice(INFRA_DIR.length + 1)} is valid`, () => {
      expect(schemaProblems(readComposeFile(file))).toEqual([]);
    });
  }

  it('reports every problem of a broken file, each with its path', () => {
    const broken = structuredClone(readComposeFile(COMPOSE)) as {
      services: Record<string, Record<string, unknown>>;
    };
    (broken.services.redis as Record<string, unknown>).restart = ['always'];
    (broken.services.gateway as Record<string, unknown>).healthcheck = { test: 42, interval: 5 };
    (broken.services.media as Record<string, unknown>).not_a_compose_key = true;
    const problems = schemaProblems(broken);
    expect(problems.some((p) => p.startsWith('/services/redis/restart'))).toBe(true);
    expect(problems.some((p) => p.startsWith('/services/gateway/healthcheck'))).toBe(true);
    expect(problems.some((p) => p.startsWith('/services/media') && p.includes('not_a_compose_key'))).toBe(
      true,
    );
  });
});

describe('interpolation', () => {
  const run = (text: string, env: Record<string, string>) => {
    const out = { errors: [] as string[], unset: [] as string[] };
    return { value: interpolateString(text, env, out, 't'), ...out };
  };

  it('follows the compose rules for defaults, required values and nesting', () => {
    expect(run('${A:-x}', {}).value).toBe('x');
    expect(run('${A:-x}', { A: '' }).value).toBe('x');
    expect(run('${A-x}', { A: '' }).value).toBe('');
    expect(run('${A:-http://localhost:${P:-8080}}', { P: '9090' }).value).toBe('http://localhost:9090');
    expect(run('$$A ${A}', { A: 'v' }).value).toBe('$A v');
    expect(run('${A:?give A}', {}).errors).toEqual(['t: required variable A is missing a value: give A']);
    expect(run('${A:?give A}', { A: '' }).errors).toHaveLength(1);
    expect(run('${A?give A}', { A: '' }).errors).toHaveLength(0);
    expect(run('${A:+y}', { A: '1' }).value).toBe('y');
    expect(run('$A', {}).unset).toEqual(['A']);
  });
});

describe('demo mode: docker-compose.yml alone, no .env', () => {
  it('interpolates with no variable set and none left unset', () => {
    const { interpolation } = demo();
    expect(interpolation.errors).toEqual([]);
    expect(interpolation.unset).toEqual([]);
  });

  it('has the five services', () => {
    expect(Object.keys(demo().project.services).sort()).toEqual([
      'bootstrap',
      'gateway',
      'media',
      'minio',
      'redis',
    ]);
  });

  it('passes every project check', () => {
    expect(checkAll(demo().project)).toEqual([]);
  });

  it('shows the architecture in its networks', () => {
    const { project } = demo();
    expect([...peers(project, 'redis')]).toEqual(['gateway']);
    expect([...peers(project, 'minio')].sort()).toEqual(['bootstrap', 'media']);
    expect(peers(project, 'gateway').has('minio')).toBe(false);
    expect(peers(project, 'gateway').has('media')).toBe(true);
    expect(project.networks.sessions?.internal).toBe(true);
    expect(project.networks.storage?.internal).toBe(true);
  });

  it('publishes gateway and media on loopback, and nothing of Redis or MinIO', () => {
    const { project } = demo();
    expect(checkNoPublishedPorts(project, ['redis', 'minio', 'bootstrap'])).toEqual([]);
    expect(checkLoopbackOnly(project, ['gateway', 'media'])).toEqual([]);
    expect(service(project, 'gateway').ports).toEqual([
      { hostIp: '127.0.0.1', published: '8080', target: '8080' },
    ]);
    expect(service(project, 'media').ports).toEqual([
      { hostIp: '127.0.0.1', published: '8081', target: '8081' },
    ]);
  });

  it('follows GATEWAY_PORT, MEDIA_PORT and PUBLISH_ADDRESS for the host side only', () => {
    const { project } = loadComposeFiles([COMPOSE], {
      GATEWAY_PORT: '9090',
      MEDIA_PORT: '9091',
      PUBLISH_ADDRESS: '0.0.0.0',
    });
    expect(service(project, 'gateway').ports).toEqual([
      { hostIp: '0.0.0.0', published: '9090', target: '8080' },
    ]);
    expect(service(project, 'media').ports).toEqual([
      { hostIp: '0.0.0.0', published: '9091', target: '8081' },
    ]);
    expect(checkEndpoints(project)).toEqual([]);
  });

  it('keeps MinIO data, Redis data and the gateway data dir in named volumes', () => {
    const { project } = demo();
    const named = (name: string) => service(project, name).volumes.filter((v) => v.type === 'volume');
    expect(named('minio')).toEqual([{ type: 'volume', source: 'minio-data', target: '/data' }]);
    expect(named('redis')).toEqual([{ type: 'volume', source: 'redis-data', target: '/data' }]);
    expect(named('gateway')).toEqual([{ type: 'volume', source: 'gateway-data', target: '/data' }]);
    expect(service(project, 'gateway').environment.DATA_DIR).toBe('/data');
  });

  it('runs the bootstrap once, before media, and the apps hardened', () => {
    const { project } = demo();
    expect(service(project, 'bootstrap').restart).toBe('no');
    expect(service(project, 'media').dependsOn.bootstrap).toEqual({
      condition: 'service_completed_successfully',
    });
    for (const name of ['gateway', 'media', 'bootstrap']) {
      const raw = service(project, name).raw;
      expect(raw.read_only, name).toBe(true);
      expect(raw.cap_drop, name).toEqual(['ALL']);
      expect(raw.security_opt, name).toEqual(['no-new-privileges:true']);
    }
  });
});

describe('production mode: docker-compose.yml + docker-compose.prod.yml', () => {
  const REQUIRED = Object.keys(OPERATOR_ENV);

  it('starts with the operator’s values and passes every project check', () => {
    const { project, interpolation } = production();
    expect(interpolation.errors).toEqual([]);
    expect(interpolation.unset).toEqual([]);
    expect(checkAll(project)).toEqual([]);
    expect(checkNoPublishedPorts(project, ['redis', 'minio', 'bootstrap'])).toEqual([]);
  });

  it('refuses to start without each secret or public URL, naming it', () => {
    for (const name of REQUIRED) {
      const env = { ...OPERATOR_ENV };
      delete env[name];
      const { interpolation } = production(env);
      expect(interpolation.errors.length, name).toBeGreaterThan(0);
      expect(
        interpolation.errors.every((e) => e.includes(`required variable ${name} `)),
        name,
      ).toBe(true);
      const empty = production({ ...OPERATOR_ENV, [name]: '' });
      expect(empty.interpolation.errors.length, `${name} empty`).toBeGreaterThan(0);
    }
  });

  it('writes every requirement as ${VAR:?…} and nothing else as required', () => {
    const refs = variableReferences(readComposeFile(COMPOSE_PROD));
    const required = [...refs].filter(([, how]) => how.has(':?')).map(([name]) => name);
    expect(required.sort()).toEqual([...REQUIRED].sort());
    for (const name of REQUIRED) expect([...(refs.get(name) ?? [])], name).toEqual([':?']);
  });

  it('sets NODE_ENV=production everywhere and leaves no demo credential in use', () => {
    const { project } = production();
    for (const name of ['gateway', 'media', 'bootstrap']) {
      expect(service(project, name).environment.NODE_ENV, name).toBe('production');
    }
    const minio = service(project, 'minio').environment;
    expect(minio.MINIO_ROOT_USER).toBe(OPERATOR_ENV.MINIO_ROOT_USER);
    expect(minio.MINIO_ROOT_PASSWORD).toBe(OPERATOR_ENV.MINIO_ROOT_PASSWORD);
    for (const name of ['media', 'bootstrap']) {
      const env = service(project, name).environment;
      expect(env.S3_ACCESS_KEY_ID, name).toBe(minio.MINIO_ROOT_USER);
      expect(env.S3_SECRET_ACCESS_KEY, name).toBe(minio.MINIO_ROOT_PASSWORD);
    }
    const all = JSON.stringify(project);
    expect(all).not.toContain('stagedoor-demo');
  });

  it('only ensures the bucket in production: the demo seeder never runs', () => {
    const { project } = production();
    expect(service(project, 'bootstrap').command).toEqual(['node', 'ensure-bucket.mjs']);
  });

  it('protects Redis with the password the gateway’s REDIS_URL carries', () => {
    const { project } = production();
    const redis = service(project, 'redis');
    const command = redis.command as string[];
    expect(command[command.indexOf('--requirepass') + 1]).toBe(OPERATOR_ENV.REDIS_PASSWORD);
    expect(redis.environment.REDISCLI_AUTH).toBe(OPERATOR_ENV.REDIS_PASSWORD);
    expect(command).toContain('--appendonly');
    const url = new URL(service(project, 'gateway').environment.REDIS_URL as string);
    expect(decodeURIComponent(url.password)).toBe(OPERATOR_ENV.REDIS_PASSWORD);
  });

  it('mounts the signing keys as a secret file at the path the gateway reads', () => {
    const { project } = production();
    const gateway = service(project, 'gateway');
    expect(gateway.secrets).toEqual(['signing_keys']);
    expect(gateway.environment.SIGNING_KEYS_FILE).toBe('/run/secrets/signing_keys');
    expect(project.secrets.signing_keys?.file).toBe(OPERATOR_ENV.SIGNING_KEYS_PATH);
  });
});

describe('operator override: docker-compose.ops.yml', () => {
  it('exposes the MinIO console on loopback only, and no other MinIO or Redis port', () => {
    const { project, interpolation } = withOps();
    expect(interpolation.errors).toEqual([]);
    const minio = service(project, 'minio');
    expect(minio.ports).toEqual([{ hostIp: '127.0.0.1', published: '9001', target: '9001' }]);
    expect(checkLoopbackOnly(project, ['minio', 'gateway', 'media'])).toEqual([]);
    expect(checkNoPublishedPorts(project, ['redis'])).toEqual([]);
    // MinIO's extra network has no other member: who can reach MinIO is unchanged.
    expect(checkNetworkRules(project, { ...ARCHITECTURE, internalOnly: ['redis'] })).toEqual([]);
    expect(checkDeclarations(project)).toEqual([]);
  });
});

describe('each check fails on a broken copy', () => {
  it('depends_on: unknown target, cycle, wrong condition', () => {
    const p = copy(demo().project);
    service(p, 'gateway').dependsOn.cache = { condition: 'service_healthy' };
    service(p, 'redis').dependsOn.gateway = { condition: 'service_healthy' };
    service(p, 'media').dependsOn.bootstrap = { condition: 'service_started' };
    const problems = checkDependsOn(p);
    expect(problems).toContain('gateway: depends_on "cache", which is not a service');
    expect(problems.some((x) => x.startsWith('depends_on cycle:') && x.includes('redis'))).toBe(true);
    expect(problems).toContain(
      'media: depends_on bootstrap with condition service_started, expected service_completed_successfully',
    );
  });

  it('declarations: undeclared volume, network, secret', () => {
    const p = copy(demo().project);
    delete p.volumes['minio-data'];
    service(p, 'media').networks.push('backstage');
    service(p, 'gateway').secrets.push('signing_keys');
    expect(checkDeclarations(p)).toEqual([
      'minio: named volume "minio-data" is not declared under volumes:',
      'media: network "backstage" is not declared under networks:',
      'gateway: secret "signing_keys" is not declared under secrets:',
    ]);
  });

  it('builds: missing Dockerfile, missing context', () => {
    const p = copy(demo().project);
    const gw = service(p, 'gateway');
    if (gw.build) gw.build.dockerfile = 'infra/docker/nope.Dockerfile';
    const md = service(p, 'media');
    if (md.build) md.build.context = '../no-such-dir';
    expect(checkBuilds(p)).toEqual([
      'media: build context ../no-such-dir does not exist',
      'gateway: Dockerfile infra/docker/nope.Dockerfile does not exist in its context',
    ]);
  });

  it('networks: the gateway on storage, media on sessions, Redis on a host-routed network', () => {
    const p = copy(demo().project);
    service(p, 'gateway').networks.push('storage');
    service(p, 'media').networks.push('sessions');
    service(p, 'redis').networks.push('edge');
    const problems = checkNetworkRules(p);
    expect(problems).toContain('redis is reachable by media; only gateway may');
    expect(problems).toContain('minio is reachable by gateway; only media, bootstrap may');
    expect(problems).toContain('gateway and minio share a network');
    expect(problems).toContain('media and redis share a network');
    expect(problems).toContain('redis is on network edge, which is not internal');
  });

  it('networks: a service with no networks joins "default" and reaches everyone else there', () => {
    const docs = [readComposeFile(COMPOSE)] as { services: Record<string, Record<string, unknown>> }[];
    const doc = docs[0] as { services: Record<string, Record<string, unknown>> };
    delete (doc.services.minio as Record<string, unknown>).networks;
    delete (doc.services.redis as Record<string, unknown>).networks;
    const { project } = loadDocs(docs, INFRA_DIR, {});
    const problems = checkNetworkRules(project);
    expect(problems).toContain('redis is reachable by minio; only gateway may');
    expect(problems).toContain('redis is not reachable by gateway, which needs it');
  });

  it('networks: an internal network for the apps leaves them unreachable from the host', () => {
    const p = copy(demo().project);
    p.networks.edge = { internal: true };
    expect(checkNetworkRules(p)).toEqual([
      'gateway publishes ports but is on no non-internal network',
      'media publishes ports but is on no non-internal network',
    ]);
  });

  it('ports: a published Redis or MinIO port, a port on every interface', () => {
    const p = copy(demo().project);
    service(p, 'redis').ports.push({ hostIp: undefined, published: undefined, target: '6379' });
    service(p, 'minio').ports.push({ hostIp: '0.0.0.0', published: '9000', target: '9000' });
    expect(checkNoPublishedPorts(p, ['redis', 'minio'])).toEqual([
      'redis publishes port 6379 (host *:any)',
      'minio publishes port 9000 (host 0.0.0.0:9000)',
    ]);
    expect(checkLoopbackOnly(p, ['redis', 'minio'])).toEqual([
      'redis publishes port 6379 on every interface',
      'minio publishes port 9000 on 0.0.0.0',
    ]);
  });

  it('health and restart: no healthcheck, disabled, NONE, wrong or no restart policy', () => {
    const p = copy(demo().project);
    service(p, 'redis').healthcheck = undefined;
    service(p, 'minio').healthcheck = { test: ['NONE'], disable: false };
    service(p, 'gateway').restart = 'never';
    service(p, 'media').restart = undefined;
    expect(checkHealthAndRestart(p)).toEqual([
      'redis: long-running service without a healthcheck',
      'minio: healthcheck test ["NONE"] checks nothing',
      'media: no restart policy',
      'gateway: long-running service with restart never',
    ]);
    const q = copy(demo().project);
    service(q, 'media').healthcheck = { test: ['CMD', 'true'], disable: true };
    expect(checkHealthAndRestart(q)).toEqual(['media: long-running service without a healthcheck']);
  });

  it('images: latest, no tag, a floating major tag, latest on a built image', () => {
    const p = copy(demo().project);
    service(p, 'redis').image = 'redis:7-alpine';
    service(p, 'minio').image = 'minio/minio';
    service(p, 'gateway').image = 'stagedoor/gateway:latest';
    expect(checkImagesPinned(p)).toEqual([
      'redis: image redis:7-alpine is not pinned to an exact version',
      'minio: image minio/minio is not pinned (no tag or latest)',
      'gateway: image stagedoor/gateway:latest is not pinned (no tag or latest)',
    ]);
  });

  it('endpoints: localhost inside a container, a wrong port, a target on no shared network', () => {
    const p = copy(demo().project);
    service(p, 'gateway').environment.REDIS_URL = 'redis://localhost:6379';
    service(p, 'media').environment.JWKS_URL = 'http://gateway:8081/.well-known/jwks.json';
    service(p, 'bootstrap').networks = ['edge'];
    const problems = checkEndpoints(p);
    expect(problems).toContain('gateway: REDIS_URL should be redis://redis:6379, not redis://localhost:6379');
    expect(problems).toContain(
      'media: JWKS_URL should be http://gateway:8080, not http://gateway:8081/.well-known/jwks.json',
    );
    expect(problems).toContain('bootstrap: S3_ENDPOINT names minio, which shares no network with it');
    const q = copy(demo().project);
    service(q, 'media').environment.PORT = '9999';
    expect(checkEndpoints(q)).toEqual(['media listens on PORT=9999, but gateway calls it on 8081']);
  });
});
