/**
 * The project's own checks of a compose model: what the compose-spec schema cannot see. Each returns a
 * list of problems (empty: fine), so a test can assert both that the real files pass and that a broken
 * copy is reported.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Project, Service } from './compose.js';

/** A one-shot service runs to completion (restart "no" or on-failure); every other one is long-running. */
export function isOneShot(service: Service): boolean {
  return service.restart === 'no' || service.restart?.startsWith('on-failure') === true;
}

/** depends_on targets exist, the graph has no cycle, and conditions fit the dependency's kind. */
export function checkDependsOn(project: Project): string[] {
  const problems: string[] = [];
  for (const service of Object.values(project.services)) {
    for (const [dep, { condition }] of Object.entries(service.dependsOn)) {
      const target = project.services[dep];
      if (!target) {
        problems.push(`${service.name}: depends_on "${dep}", which is not a service`);
        continue;
      }
      const wanted = isOneShot(target) ? 'service_completed_successfully' : 'service_healthy';
      if (condition !== wanted) {
        problems.push(`${service.name}: depends_on ${dep} with condition ${condition}, expected ${wanted}`);
      }
    }
  }
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      problems.push(`depends_on cycle: ${[...path, name].join(' -> ')}`);
      return;
    }
    state.set(name, 'visiting');
    for (const dep of Object.keys(project.services[name]?.dependsOn ?? {})) {
      if (project.services[dep]) visit(dep, [...path, name]);
    }
    state.set(name, 'done');
  };
  for (const name of Object.keys(project.services)) visit(name, []);
  return problems;
}

/** Named volumes, networks and secrets used by services are declared at the top level. */
export function checkDeclarations(project: Project): string[] {
  const problems: string[] = [];
  for (const service of Object.values(project.services)) {
    for (const volume of service.volumes) {
      if (volume.type === 'volume' && volume.source && !(volume.source in project.volumes)) {
        problems.push(`${service.name}: named volume "${volume.source}" is not declared under volumes:`);
      }
    }
    for (const network of service.networks) {
      if (!(network in project.networks)) {
        problems.push(`${service.name}: network "${network}" is not declared under networks:`);
      }
    }
    for (const secret of service.secrets) {
      if (!(secret in project.secrets)) {
        problems.push(`${service.name}: secret "${secret}" is not declared under secrets:`);
      }
    }
  }
  return problems;
}

/** Every build context and Dockerfile exists (paths resolve from the compose file's directory). */
export function checkBuilds(project: Project): string[] {
  const problems: string[] = [];
  for (const service of Object.values(project.services)) {
    if (!service.build) continue;
    const context = resolve(project.dir, service.build.context);
    if (!existsSync(context)) {
      problems.push(`${service.name}: build context ${service.build.context} does not exist`);
      continue;
    }
    if (!existsSync(resolve(context, service.build.dockerfile))) {
      problems.push(`${service.name}: Dockerfile ${service.build.dockerfile} does not exist in its context`);
    }
  }
  return problems;
}

/** Services that share at least one network with `name` (who can reach it, and whom it can reach). */
export function peers(project: Project, name: string): Set<string> {
  const own = new Set(project.services[name]?.networks ?? []);
  return new Set(
    Object.values(project.services)
      .filter((s) => s.name !== name && s.networks.some((n) => own.has(n)))
      .map((s) => s.name),
  );
}

export interface NetworkRules {
  /** target service → the only services that may (and must) share a network with it. */
  reachableOnlyBy: Record<string, string[]>;
  /** Pairs that must share no network. */
  isolated: [string, string][];
  /** Services whose every network must be internal (no route to or from the host). */
  internalOnly: string[];
  /** Services that must be on at least one non-internal network (they publish ports to the host). */
  hostReachable: string[];
}

export const ARCHITECTURE: NetworkRules = {
  reachableOnlyBy: { redis: ['gateway'], minio: ['media', 'bootstrap'] },
  isolated: [
    ['gateway', 'minio'],
    ['gateway', 'bootstrap'],
    ['media', 'redis'],
  ],
  internalOnly: ['redis', 'minio'],
  hostReachable: ['gateway', 'media'],
};

export function checkNetworkRules(project: Project, rules: NetworkRules = ARCHITECTURE): string[] {
  const problems: string[] = [];
  for (const [target, allowed] of Object.entries(rules.reachableOnlyBy)) {
    if (!project.services[target]) {
      problems.push(`no service ${target}`);
      continue;
    }
    const actual = peers(project, target);
    for (const p of actual) {
      if (!allowed.includes(p))
        problems.push(`${target} is reachable by ${p}; only ${allowed.join(', ')} may`);
    }
    for (const a of allowed) {
      if (!actual.has(a)) problems.push(`${target} is not reachable by ${a}, which needs it`);
    }
  }
  for (const [a, b] of rules.isolated) {
    if (peers(project, a).has(b)) problems.push(`${a} and ${b} share a network`);
  }
  for (const name of rules.internalOnly) {
    for (const network of project.services[name]?.networks ?? []) {
      if (!project.networks[network]?.internal) {
        problems.push(`${name} is on network ${network}, which is not internal`);
      }
    }
  }
  for (const name of rules.hostReachable) {
    const networks = project.services[name]?.networks ?? [];
    if (!networks.some((n) => project.networks[n] && !project.networks[n].internal)) {
      problems.push(`${name} publishes ports but is on no non-internal network`);
    }
  }
  return problems;
}

/** The listed services publish nothing (any `ports:` entry publishes, even without a host port). */
export function checkNoPublishedPorts(project: Project, names: string[]): string[] {
  return names.flatMap((name) =>
    (project.services[name]?.ports ?? []).map(
      (p) => `${name} publishes port ${p.target} (host ${p.hostIp ?? '*'}:${p.published ?? 'any'})`,
    ),
  );
}

/** Every published port of the listed services binds to the loopback interface only. */
export function checkLoopbackOnly(project: Project, names: string[]): string[] {
  return names.flatMap((name) =>
    (project.services[name]?.ports ?? [])
      .filter((p) => p.hostIp !== '127.0.0.1' && p.hostIp !== '::1')
      .map((p) => `${name} publishes port ${p.target} on ${p.hostIp ?? 'every interface'}`),
  );
}

/** Healthchecks on long-running services; restart policies that fit each kind. */
export function checkHealthAndRestart(project: Project): string[] {
  const problems: string[] = [];
  for (const service of Object.values(project.services)) {
    if (service.restart === undefined) {
      problems.push(`${service.name}: no restart policy`);
      continue;
    }
    if (isOneShot(service)) continue;
    if (service.restart !== 'unless-stopped' && service.restart !== 'always') {
      problems.push(`${service.name}: long-running service with restart ${service.restart}`);
    }
    const test = service.healthcheck?.test;
    if (!service.healthcheck || service.healthcheck.disable || test === undefined) {
      problems.push(`${service.name}: long-running service without a healthcheck`);
    } else if (Array.isArray(test) ? test[0] === 'NONE' || test.length < 2 : String(test).trim() === '') {
      problems.push(`${service.name}: healthcheck test ${JSON.stringify(test)} checks nothing`);
    }
  }
  return problems;
}

/**
 * Images pinned: a locally built image may carry any tag but `latest`; a pulled one needs an exact
 * version (x.y.z…, MinIO's RELEASE.<timestamp>) or a digest.
 */
export function checkImagesPinned(project: Project): string[] {
  const problems: string[] = [];
  for (const service of Object.values(project.services)) {
    const image = service.image;
    if (!image) {
      if (!service.build) problems.push(`${service.name}: neither image nor build`);
      continue;
    }
    if (/@sha256:[0-9a-f]{64}$/.test(image)) continue;
    const tag = /:([^/:]+)$/.exec(image)?.[1];
    if (!tag || tag === 'latest') {
      problems.push(`${service.name}: image ${image} is not pinned (no tag or latest)`);
      continue;
    }
    if (service.build) continue;
    if (
      !/^\d+\.\d+\.\d+([.-][A-Za-z0-9.-]+)?$/.test(tag) &&
      !/^RELEASE\.\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z$/.test(tag)
    ) {
      problems.push(`${service.name}: image ${image} is not pinned to an exact version`);
    }
  }
  return problems;
}

/** URL-valued variables that name another container must name one on a shared network and its port. */
export interface Endpoint {
  service: string;
  variable: string;
  target: string;
  port: number;
  /** The URL's scheme, e.g. `http:` or `redis:`. */
  protocol: string;
}

export const ENDPOINTS: Endpoint[] = [
  { service: 'gateway', variable: 'REDIS_URL', target: 'redis', port: 6379, protocol: 'redis:' },
  { service: 'gateway', variable: 'MEDIA_INTERNAL_URL', target: 'media', port: 8081, protocol: 'http:' },
  { service: 'media', variable: 'JWKS_URL', target: 'gateway', port: 8080, protocol: 'http:' },
  { service: 'media', variable: 'S3_ENDPOINT', target: 'minio', port: 9000, protocol: 'http:' },
  { service: 'bootstrap', variable: 'S3_ENDPOINT', target: 'minio', port: 9000, protocol: 'http:' },
];

export function checkEndpoints(project: Project, endpoints: Endpoint[] = ENDPOINTS): string[] {
  const problems: string[] = [];
  for (const e of endpoints) {
    const value = project.services[e.service]?.environment[e.variable];
    if (!value) {
      problems.push(`${e.service}: ${e.variable} is not set`);
      continue;
    }
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      problems.push(`${e.service}: ${e.variable}=${value} is not a URL`);
      continue;
    }
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : url.protocol === 'http:' ? 80 : 0));
    if (url.hostname !== e.target || port !== e.port || url.protocol !== e.protocol) {
      problems.push(
        `${e.service}: ${e.variable} should be ${e.protocol}//${e.target}:${e.port}, not ${value}`,
      );
    }
    if (!peers(project, e.service).has(e.target)) {
      problems.push(`${e.service}: ${e.variable} names ${e.target}, which shares no network with it`);
    }
    // The container's own port must be the one callers use.
    const targetService = project.services[e.target];
    const ownPort = targetService?.environment.PORT;
    if (ownPort !== undefined && Number(ownPort) !== e.port) {
      problems.push(`${e.target} listens on PORT=${ownPort}, but ${e.service} calls it on ${e.port}`);
    }
  }
  return problems;
}

export function checkAll(project: Project): string[] {
  return [
    ...checkDependsOn(project),
    ...checkDeclarations(project),
    ...checkBuilds(project),
    ...checkNetworkRules(project),
    ...checkHealthAndRestart(project),
    ...checkImagesPinned(project),
    ...checkEndpoints(project),
  ];
}
