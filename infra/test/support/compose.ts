/**
 * Reading compose files offline, the way `docker compose -f a.yml -f b.yml config` would: YAML (with
 * anchors and `<<` merge keys), validation of each file against the compose-spec JSON schema (the copy
 * bundled in the `dclint` package), interpolation per file, then the override files merged over the
 * first one, into a normalized model the checks in `compose-checks.ts` read.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';
import { type Env, type Interpolation, interpolateValue } from './interpolate.js';

export interface Port {
  hostIp: string | undefined;
  /** undefined: compose picks a free host port (still published). */
  published: string | undefined;
  target: string;
}

export interface ServiceVolume {
  /** Named volume (declared at the top level), bind mount, tmpfs, … */
  type: 'volume' | 'bind' | 'other';
  source: string | undefined;
  target: string;
}

export interface Service {
  name: string;
  image: string | undefined;
  build: { context: string; dockerfile: string } | undefined;
  command: unknown;
  restart: string | undefined;
  networks: string[];
  ports: Port[];
  environment: Record<string, string>;
  dependsOn: Record<string, { condition: string }>;
  volumes: ServiceVolume[];
  secrets: string[];
  profiles: string[];
  healthcheck: { test: unknown; disable: boolean } | undefined;
  /** Everything else, merged, as written. */
  raw: Record<string, unknown>;
}

export interface Project {
  /** Directory of the first file: relative paths (build contexts, secret files) resolve from here. */
  dir: string;
  services: Record<string, Service>;
  networks: Record<string, { internal: boolean }>;
  volumes: Record<string, unknown>;
  secrets: Record<string, { file: string | undefined }>;
}

export interface LoadedProject {
  project: Project;
  /** Interpolation problems: compose would refuse to start with any `errors`. */
  interpolation: Interpolation;
}

type Doc = Record<string, unknown>;

const isObject = (v: unknown): v is Doc => v !== null && typeof v === 'object' && !Array.isArray(v);

export function parseComposeText(text: string): Doc {
  const doc = parse(text, { merge: true }) as unknown;
  if (!isObject(doc)) throw new Error('a compose file must be a mapping');
  return doc;
}

export function readComposeFile(path: string): Doc {
  return parseComposeText(readFileSync(path, 'utf8'));
}

// ---------------------------------------------------------------------------------------------------
// Schema

let validator: ((doc: unknown) => ErrorObject[]) | undefined;

/** The compose-spec schema bundled in dclint, read by path; its `$schema` is dropped (ajv 8 default draft). */
export function composeSchemaValidator(): (doc: unknown) => ErrorObject[] {
  if (validator) return validator;
  const require = createRequire(import.meta.url);
  const dclintDir = dirname(require.resolve('dclint/package.json'));
  const schema = JSON.parse(readFileSync(resolve(dclintDir, 'schemas/compose.schema.json'), 'utf8')) as Doc;
  delete schema.$schema;
  const ajv = new Ajv({ allErrors: true, strict: false });
  const addFormats = addFormatsModule as unknown as (a: Ajv) => Ajv;
  addFormats(ajv);
  const validate = ajv.compile(schema);
  validator = (doc) => (validate(doc) ? [] : [...(validate.errors ?? [])]);
  return validator;
}

/** Schema problems of one (uninterpolated) file, one line each: `<path> <message> <params>`. */
export function schemaProblems(doc: unknown): string[] {
  return composeSchemaValidator()(doc).map(
    (e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'} ${JSON.stringify(e.params)}`,
  );
}

// ---------------------------------------------------------------------------------------------------
// Normalization (the short and long syntaxes of the spec, to one shape)

function asStringMap(value: unknown): Record<string, string | undefined> {
  if (Array.isArray(value)) {
    return Object.fromEntries(
      value.map((entry) => {
        const text = String(entry);
        const eq = text.indexOf('=');
        return eq < 0 ? [text, undefined] : [text.slice(0, eq), text.slice(eq + 1)];
      }),
    );
  }
  if (isObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, v === null || v === undefined ? undefined : String(v)]),
    );
  }
  return {};
}

function parsePort(entry: unknown): Port {
  if (isObject(entry)) {
    return {
      hostIp: entry.host_ip === undefined ? undefined : String(entry.host_ip),
      published: entry.published === undefined ? undefined : String(entry.published),
      target: String(entry.target),
    };
  }
  // [[ip:]host:]container[/protocol]; an IPv6 ip is written in brackets.
  const text = String(entry).replace(/\/(tcp|udp)$/, '');
  const ipv6 = /^\[([^\]]+)\]:(.*)$/.exec(text);
  const parts = ipv6 ? [ipv6[1] as string, ...(ipv6[2] as string).split(':')] : text.split(':');
  if (parts.length === 1) return { hostIp: undefined, published: undefined, target: parts[0] as string };
  if (parts.length === 2) return { hostIp: undefined, published: parts[0], target: parts[1] as string };
  return { hostIp: parts[0], published: parts[1], target: parts[2] as string };
}

function parseVolume(entry: unknown): ServiceVolume {
  if (isObject(entry)) {
    const type = entry.type === 'volume' || entry.type === 'bind' ? entry.type : 'other';
    return {
      type,
      source: entry.source === undefined ? undefined : String(entry.source),
      target: String(entry.target),
    };
  }
  const [source, target] = String(entry).split(':');
  if (target === undefined) return { type: 'volume', source: undefined, target: source as string };
  const bind = /^[./~]/.test(source as string) || (source as string).includes('/');
  return { type: bind ? 'bind' : 'volume', source, target };
}

const MODELLED = new Set([
  'image',
  'build',
  'command',
  'restart',
  'networks',
  'ports',
  'environment',
  'depends_on',
  'volumes',
  'secrets',
  'profiles',
  'healthcheck',
]);

/** One file's service, normalized; `env` resolves `KEY` entries with no value (taken from the shell). */
export function normalizeService(name: string, doc: Doc, env: Env): Service {
  const build = doc.build;
  const environment = Object.fromEntries(
    Object.entries(asStringMap(doc.environment))
      .map(([k, v]) => [k, v ?? env[k]])
      .filter((e): e is [string, string] => e[1] !== undefined),
  );
  const dependsOn: Record<string, { condition: string }> = {};
  if (Array.isArray(doc.depends_on)) {
    for (const dep of doc.depends_on) dependsOn[String(dep)] = { condition: 'service_started' };
  } else if (isObject(doc.depends_on)) {
    for (const [dep, spec] of Object.entries(doc.depends_on)) {
      dependsOn[dep] = {
        condition: isObject(spec) && spec.condition ? String(spec.condition) : 'service_started',
      };
    }
  }
  const healthcheck = isObject(doc.healthcheck)
    ? { test: doc.healthcheck.test, disable: doc.healthcheck.disable === true }
    : undefined;
  return {
    name,
    image: doc.image === undefined ? undefined : String(doc.image),
    build:
      build === undefined
        ? undefined
        : isObject(build)
          ? { context: String(build.context ?? '.'), dockerfile: String(build.dockerfile ?? 'Dockerfile') }
          : { context: String(build), dockerfile: 'Dockerfile' },
    command: doc.command,
    restart: doc.restart === undefined ? undefined : String(doc.restart),
    networks: Array.isArray(doc.networks)
      ? doc.networks.map(String)
      : isObject(doc.networks)
        ? Object.keys(doc.networks)
        : [],
    ports: Array.isArray(doc.ports) ? doc.ports.map(parsePort) : [],
    environment,
    dependsOn,
    volumes: Array.isArray(doc.volumes) ? doc.volumes.map(parseVolume) : [],
    secrets: Array.isArray(doc.secrets)
      ? doc.secrets.map((s) => (isObject(s) ? String(s.source) : String(s)))
      : [],
    profiles: Array.isArray(doc.profiles) ? doc.profiles.map(String) : [],
    healthcheck,
    raw: Object.fromEntries(Object.entries(doc).filter(([k]) => !MODELLED.has(k))),
  };
}

const union = <T>(a: T[], b: T[], key: (t: T) => string = (t) => JSON.stringify(t)): T[] => {
  const seen = new Map(a.map((t) => [key(t), t]));
  for (const t of b) seen.set(key(t), t);
  return [...seen.values()];
};

function deepMerge(a: unknown, b: unknown): unknown {
  if (isObject(a) && isObject(b)) {
    const out: Doc = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = k in a ? deepMerge(a[k], v) : v;
    return out;
  }
  return b === undefined ? a : b;
}

/** Compose's merge rules for an override: maps merge by key, sequences append (ports, volumes by
 * target, networks, secrets), and `command`, `healthcheck.test` and scalars are replaced. */
export function mergeService(base: Service, over: Service): Service {
  return {
    name: base.name,
    image: over.image ?? base.image,
    build: over.build ?? base.build,
    command: over.command ?? base.command,
    restart: over.restart ?? base.restart,
    networks: union(base.networks, over.networks),
    ports: union(base.ports, over.ports),
    environment: { ...base.environment, ...over.environment },
    dependsOn: { ...base.dependsOn, ...over.dependsOn },
    volumes: union(base.volumes, over.volumes, (v) => v.target),
    secrets: union(base.secrets, over.secrets),
    profiles: union(base.profiles, over.profiles),
    healthcheck:
      over.healthcheck && base.healthcheck
        ? {
            test: over.healthcheck.test ?? base.healthcheck.test,
            disable: over.healthcheck.disable || base.healthcheck.disable,
          }
        : (over.healthcheck ?? base.healthcheck),
    raw: deepMerge(base.raw, over.raw) as Doc,
  };
}

function normalizeProject(doc: Doc, dir: string, env: Env): Project {
  const services = isObject(doc.services) ? doc.services : {};
  const networks = isObject(doc.networks) ? doc.networks : {};
  const secrets = isObject(doc.secrets) ? doc.secrets : {};
  return {
    dir,
    services: Object.fromEntries(
      Object.entries(services).map(([name, s]) => [name, normalizeService(name, isObject(s) ? s : {}, env)]),
    ),
    networks: Object.fromEntries(
      Object.entries(networks).map(([name, n]) => [name, { internal: isObject(n) && n.internal === true }]),
    ),
    volumes: isObject(doc.volumes) ? { ...doc.volumes } : {},
    secrets: Object.fromEntries(
      Object.entries(secrets).map(([name, s]) => [
        name,
        { file: isObject(s) && s.file !== undefined ? String(s.file) : undefined },
      ]),
    ),
  };
}

export function mergeProjects(base: Project, over: Project): Project {
  const services = { ...base.services };
  for (const [name, s] of Object.entries(over.services)) {
    const existing = services[name];
    services[name] = existing ? mergeService(existing, s) : s;
  }
  return {
    dir: base.dir,
    services,
    networks: { ...base.networks, ...over.networks },
    volumes: { ...base.volumes, ...over.volumes },
    secrets: { ...base.secrets, ...over.secrets },
  };
}

/** A service with no `networks` joins the project's `default` network, which compose then creates. */
export function withDefaultNetwork(project: Project): Project {
  const services = Object.fromEntries(
    Object.entries(project.services).map(([name, s]) => [
      name,
      s.networks.length > 0 ? s : { ...s, networks: ['default'] },
    ]),
  );
  const usesDefault = Object.values(services).some((s) => s.networks.includes('default'));
  return {
    ...project,
    services,
    networks:
      usesDefault && !project.networks.default
        ? { ...project.networks, default: { internal: false } }
        : project.networks,
  };
}

/** Interpolates and merges already-parsed documents (the first one is the base). */
export function loadDocs(docs: Doc[], dir: string, env: Env): LoadedProject {
  const interpolation: Interpolation = { errors: [], unset: [] };
  let project: Project | undefined;
  docs.forEach((doc, i) => {
    const interpolated = interpolateValue(doc, env, interpolation, `file ${i + 1}`) as Doc;
    const next = normalizeProject(interpolated, dir, env);
    project = project ? mergeProjects(project, next) : next;
  });
  if (!project) throw new Error('no compose file');
  return { project: withDefaultNetwork(project), interpolation };
}

export function loadComposeFiles(paths: string[], env: Env): LoadedProject {
  const first = paths[0];
  if (!first) throw new Error('no compose file');
  return loadDocs(paths.map(readComposeFile), dirname(resolve(first)), env);
}
