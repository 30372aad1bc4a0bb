#!/usr/bin/env node
// `pnpm start` / `pnpm dev`: the whole stack on one machine with no Docker (CONTRACT.md, Processes).
//
//   1. checks the builds and the two ports (one clear line and exit 1 when something is wrong);
//   2. starts the embedded S3-compatible store (data under .data/s3) unless S3_ENDPOINT is set;
//   3. creates the bucket and seeds the demo media (never when NODE_ENV=production);
//   4. starts media and the gateway as child processes wired to each other (public and internal URLs,
//      JWKS, token issuer, CORS) and waits until both answer /healthz;
//   5. prints the URL to open and the demo sign-in.
//
// Every process it starts gets an IPC channel and the exit-with-parent preload, so it ends when this
// process ends however that happens; SIGINT, SIGTERM and SIGHUP stop them all within seconds.
// `--dev` adds `tsc --watch` for shared, gateway and media and restarts an app when its build changes.
import { spawn } from 'node:child_process';
import { existsSync, watch } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startNodeFlags } from './node-flags.mjs';
import { unsupportedNode } from './require-node-24.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dev = process.argv.includes('--dev');
const env = process.env;
const rawLogs = env.LOG_FORMAT === 'json';
const preload = pathToFileURL(join(root, 'scripts/exit-with-parent.mjs')).href;

// A reader that has gone away (pnpm exited on SIGTERM) must not crash the shutdown.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});
const say = (line) => process.stdout.write(`${line}\n`);
/** One clear line on stderr, then everything started so far is stopped; never returns. */
async function fail(message) {
  process.stderr.write(`stagedoor: ${message}\n`);
  await shutdown(1);
  await new Promise(() => {}); // a shutdown already under way exits the process
}

/** @type {Map<string, import('node:child_process').ChildProcess>} */
const children = new Map();
let embeddedStore;
let stopping = false;

async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  // Should the loop run dry before process.exit below, the code is still this one.
  process.exitCode = code;
  const running = [...children.values()].filter((c) => c.exitCode === null && c.signalCode === null);
  await Promise.all(
    running.map(
      (child) =>
        new Promise((done) => {
          child.once('exit', done);
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 6000).unref();
        }),
    ),
  );
  await embeddedStore?.stop();
  process.exit(code);
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (!stopping) say(`\nstagedoor: ${signal}, stopping…`);
    void shutdown(0);
  });
}
// pnpm 12 exits at once on SIGTERM: if whoever started us is gone, stop as if signalled.
const startingParent = process.ppid;
setInterval(() => {
  if (process.ppid !== startingParent) void shutdown(0);
}, 500).unref();

function intVar(name, fallback, min = 1) {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > 65535) {
    process.stderr.write(`stagedoor: ${name} must be a port number from ${min} to 65535 (got "${raw}")\n`);
    process.exit(1);
  }
  return value;
}

/** Resolves when `port` can be bound on `host`, else rejects with a one-line reason. */
function checkPortFree(port, host, variable) {
  return new Promise((ok, bad) => {
    const server = createServer();
    server.once('error', (error) => {
      if (error.code === 'EADDRINUSE') bad(new Error(`port ${port} is already in use (set ${variable})`));
      else if (error.code === 'EADDRNOTAVAIL' || error.code === 'EAFNOSUPPORT') ok();
      else bad(new Error(`cannot listen on ${host}:${port} (${error.code}; set ${variable})`));
    });
    server.listen({ port, host, exclusive: true }, () => server.close(() => ok()));
  });
}

// ---- Pretty, one-line-per-event logs for people (LOG_FORMAT=json passes the apps' pino lines through).
const colour = process.stdout.isTTY && !env.NO_COLOR;
const tint = (code, text) => (colour ? `\u001b[${code}m${text}\u001b[0m` : text);
const LEVELS = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
/** "METHOD url" of requests in flight, by app and pino reqId, so a completion line can say which. */
const inFlight = new Map();
function formatLine(name, line) {
  const prefix = tint(36, name.padEnd(7));
  if (rawLogs || !line.startsWith('{')) return `${prefix} ${line}`;
  let entry;
  try {
    entry = JSON.parse(line);
  } catch {
    return `${prefix} ${line}`;
  }
  const id = `${name} ${entry.reqId}`;
  if (entry.msg === 'incoming request' && entry.req) {
    inFlight.set(id, `${entry.req.method} ${entry.req.url}`);
    return null;
  }
  const level = LEVELS[entry.level] ?? String(entry.level);
  const time = new Date(entry.time ?? Date.now()).toISOString().slice(11, 19);
  const parts = [];
  if (entry.msg === 'request completed' && entry.res) {
    parts.push(inFlight.get(id) ?? 'request', `→ ${entry.res.statusCode}`);
    if (typeof entry.responseTime === 'number') parts.push(`(${entry.responseTime.toFixed(1)} ms)`);
    inFlight.delete(id);
  } else {
    parts.push(entry.msg ?? '');
    if (entry.req) parts.push(`${entry.req.method} ${entry.req.url}`);
    if (entry.err?.message) parts.push(`: ${entry.err.message}`);
  }
  const tag = level === 'info' ? level : tint(level === 'warn' ? 33 : 31, level);
  return `${tint(2, time)} ${prefix} ${tag.padEnd(5)} ${parts.join(' ')}`;
}
function pipeLines(name, stream, out) {
  let buffer = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    buffer += chunk;
    let newline = buffer.indexOf('\n');
    while (newline >= 0) {
      const line = buffer.slice(0, newline);
      const formatted = line.trim() === '' ? null : formatLine(name, line);
      if (formatted !== null) out.write(`${formatted}\n`);
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf('\n');
    }
  });
}

/** Starts a node script as a child with the IPC channel and the exit-with-parent preload. */
function startNode(name, args, childEnv, { onExit } = {}) {
  const child = spawn(process.execPath, ['--import', preload, ...args], {
    cwd: root,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  children.set(name, child);
  pipeLines(name, child.stdout, process.stdout);
  pipeLines(name, child.stderr, process.stderr);
  child.once('exit', (code, signal) => {
    if (children.get(name) === child) children.delete(name);
    onExit?.(code, signal);
  });
  return child;
}

async function waitForHealth(name, url, child) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited during start-up (code ${child.exitCode ?? child.signalCode})`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${name} did not answer ${url} within 30 s`);
}

// ---------------------------------------------------------------------------------------------------
const tooOld = unsupportedNode();
if (tooOld) await fail(tooOld);
const gatewayPort = intVar('GATEWAY_PORT', 8080);
const mediaPort = intVar('MEDIA_PORT', 8081);
if (gatewayPort === mediaPort) await fail(`GATEWAY_PORT and MEDIA_PORT must differ (both ${gatewayPort})`);
// Each app's Prometheus listener (0 = off), on METRICS_HOST (loopback unless set), never a public port.
const gatewayMetricsPort = intVar('GATEWAY_METRICS_PORT', 9464, 0);
const mediaMetricsPort = intVar('MEDIA_METRICS_PORT', 9465, 0);
const metricsHost = env.METRICS_HOST?.trim() || '127.0.0.1';
{
  const ports = [gatewayPort, mediaPort, gatewayMetricsPort, mediaMetricsPort].filter((p) => p !== 0);
  if (new Set(ports).size !== ports.length) {
    await fail('GATEWAY_PORT, MEDIA_PORT, GATEWAY_METRICS_PORT and MEDIA_METRICS_PORT must all differ');
  }
}
// Loopback only by default: the demo accounts and fixed development secrets stay off the network.
const host = env.HOST?.trim() || 'localhost';
// The host browsers use for a default public URL: the one the apps listen on, unless that is every
// interface (then this machine's own name for itself).
const publicHost = ['0.0.0.0', '::', '[::]'].includes(host)
  ? 'localhost'
  : host.includes(':')
    ? `[${host}]`
    : host;
const production = env.NODE_ENV === 'production';
const dataDir = resolve(root, env.STAGEDOOR_DATA_DIR?.trim() || '.data');

const builds = {
  gateway: 'apps/gateway/dist/server.js',
  media: 'apps/media/dist/server.js',
  fixtures: 'packages/fixtures/dist/seed.js',
};
for (const path of Object.values(builds)) {
  if (!existsSync(join(root, path))) {
    await fail(`${path} is missing: run \`pnpm build\` first (\`pnpm start\` builds before starting)`);
  }
}
try {
  for (const [port, variable] of [
    [gatewayPort, 'GATEWAY_PORT'],
    [mediaPort, 'MEDIA_PORT'],
  ]) {
    const hosts = host === 'localhost' ? ['127.0.0.1', '::1'] : [host];
    for (const h of hosts) await checkPortFree(port, h, variable);
  }
  for (const [port, variable] of [
    [gatewayMetricsPort, 'GATEWAY_METRICS_PORT'],
    [mediaMetricsPort, 'MEDIA_METRICS_PORT'],
  ]) {
    if (port !== 0) await checkPortFree(port, metricsHost, variable);
  }
} catch (error) {
  await fail(error.message);
}

// ---- The object store: the embedded one unless S3_ENDPOINT points elsewhere.
const s3 = {
  S3_ENDPOINT: env.S3_ENDPOINT,
  S3_REGION: env.S3_REGION || 'us-east-1',
  S3_BUCKET: env.S3_BUCKET || 'media',
  S3_ACCESS_KEY_ID: env.S3_ACCESS_KEY_ID,
  S3_SECRET_ACCESS_KEY: env.S3_SECRET_ACCESS_KEY,
  S3_FORCE_PATH_STYLE: env.S3_FORCE_PATH_STYLE || 'true',
};
let storeLabel;
if (!env.S3_ENDPOINT?.trim()) {
  const { startEmbeddedS3 } = await import(
    pathToFileURL(join(root, 'packages/fixtures/dist/embedded-s3.js')).href
  );
  try {
    embeddedStore = await startEmbeddedS3({ directory: join(dataDir, 's3') });
  } catch (error) {
    await fail(error.message.split('\n')[0]);
  }
  // Every process this script starts is watched: a store that dies would leave the apps answering 503.
  const storeErrors = [];
  embeddedStore.process.stderr?.on('data', (chunk) => storeErrors.push(...String(chunk).trim().split('\n')));
  embeddedStore.process.once('exit', (code, signal) => {
    if (stopping) return;
    const why = storeErrors.findLast((line) => /Error|error:/.test(line)) ?? storeErrors.at(-1) ?? '';
    void fail(
      `the embedded object store exited (${code ?? signal})${why ? `: ${why.trim()}` : ''}; stopping everything`,
    );
  });
  Object.assign(s3, {
    S3_ENDPOINT: embeddedStore.endpoint,
    S3_REGION: embeddedStore.region,
    S3_ACCESS_KEY_ID: embeddedStore.accessKeyId,
    S3_SECRET_ACCESS_KEY: embeddedStore.secretAccessKey,
    S3_FORCE_PATH_STYLE: 'true',
  });
  storeLabel = `embedded store at ${embeddedStore.endpoint} (data in ${join(dataDir, 's3')})`;
} else {
  storeLabel = `${s3.S3_ENDPOINT}`;
}

const demo = !production && env.DEMO_FIXTURES !== 'false';
if (demo) {
  const { seedDemoMedia } = await import(pathToFileURL(join(root, builds.fixtures)).href);
  try {
    const result = await seedDemoMedia({
      s3: {
        endpoint: s3.S3_ENDPOINT,
        region: s3.S3_REGION,
        accessKeyId: s3.S3_ACCESS_KEY_ID ?? 'minioadmin',
        secretAccessKey: s3.S3_SECRET_ACCESS_KEY ?? 'minioadmin',
        forcePathStyle: s3.S3_FORCE_PATH_STYLE !== 'false',
      },
      bucket: s3.S3_BUCKET,
    });
    say(
      `stagedoor: demo media in bucket ${s3.S3_BUCKET}: ${result.uploaded.length} uploaded, ${result.skipped.length} already present`,
    );
  } catch (error) {
    await fail(`seeding the demo media into ${s3.S3_ENDPOINT} failed: ${error.message.split('\n')[0]}`);
  }
}

// ---- The apps, wired to each other. Explicit settings in the environment win over these defaults.
// The gateway's origin as browsers see it; an explicit GATEWAY_PUBLIC_URL (a proxy in front) wins, and
// media must then accept that origin as the token issuer too.
let gatewayOrigin = `http://${publicHost}:${gatewayPort}`;
if (env.GATEWAY_PUBLIC_URL?.trim()) {
  try {
    gatewayOrigin = new URL(env.GATEWAY_PUBLIC_URL.trim()).origin;
  } catch {
    await fail(`GATEWAY_PUBLIC_URL must be a URL (got "${env.GATEWAY_PUBLIC_URL}")`);
  }
}
// Under pnpm start both loopback spellings of the gateway count as its own origin (CONTRACT.md).
const loopbackTwins = [`http://localhost:${gatewayPort}`, `http://127.0.0.1:${gatewayPort}`]
  .filter((origin) => origin !== gatewayOrigin)
  .join(',');
const shared = { ...env, HOST: host };
delete shared.PORT; // each app gets its own below, and its own metrics port
delete shared.METRICS_PORT;
const defaults = (values) => Object.fromEntries(Object.entries(values).filter(([k]) => !env[k]?.trim()));
const mediaEnv = {
  ...shared,
  ...s3,
  ...defaults({
    GATEWAY_PUBLIC_URL: gatewayOrigin,
    GATEWAY_EXTRA_ORIGINS: loopbackTwins,
    JWKS_URL: `http://127.0.0.1:${gatewayPort}/.well-known/jwks.json`,
    // The revocation feed over the same link; its credential is media's demo default outside production
    // (with NODE_ENV=production, give both apps REVOCATION_CLIENT_ID and REVOCATION_CLIENT_SECRET).
    REVOCATION_FEED_URL: `http://127.0.0.1:${gatewayPort}/internal/revocations`,
    TOKEN_ISSUER: gatewayOrigin,
  }),
  PORT: String(mediaPort),
  METRICS_PORT: String(mediaMetricsPort),
  METRICS_HOST: metricsHost,
};
const gatewayEnv = {
  ...shared,
  ...defaults({
    GATEWAY_PUBLIC_URL: gatewayOrigin,
    GATEWAY_EXTRA_ORIGINS: loopbackTwins,
    MEDIA_PUBLIC_URL: `http://${publicHost}:${mediaPort}`,
    MEDIA_INTERNAL_URL: `http://127.0.0.1:${mediaPort}`,
    DATA_DIR: join(dataDir, 'gateway'),
  }),
  PORT: String(gatewayPort),
  METRICS_PORT: String(gatewayMetricsPort),
  METRICS_HOST: metricsHost,
};
const apps = {
  media: {
    script: builds.media,
    flags: startNodeFlags(join(root, 'apps/media')),
    env: mediaEnv,
    port: mediaPort,
  },
  gateway: {
    script: builds.gateway,
    flags: startNodeFlags(join(root, 'apps/gateway')),
    env: gatewayEnv,
    port: gatewayPort,
  },
};

let ready = false;
function startApp(name) {
  const app = apps[name];
  const child = startNode(name, [...app.flags, app.script], app.env, {
    onExit: (code, signal) => {
      if (stopping || app.restarting) return;
      if (dev && ready) {
        say(`stagedoor: ${name} exited (${code ?? signal}); waiting for a change to restart it`);
        return;
      }
      void fail(`${name} exited (${code ?? signal}); stopping everything`);
    },
  });
  return child;
}

async function restartApp(name) {
  const app = apps[name];
  const current = children.get(name);
  app.restarting = true;
  if (current && current.exitCode === null && current.signalCode === null) {
    await new Promise((done) => {
      current.once('exit', done);
      current.kill('SIGTERM');
      setTimeout(() => current.kill('SIGKILL'), 6000).unref();
    });
  }
  app.restarting = false;
  if (stopping) return;
  say(`stagedoor: restarting ${name}`);
  startApp(name);
}

if (dev) {
  // Compile once in watch mode before starting the apps, so the first emit does not restart them.
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  const projects = { shared: 'packages/shared', gateway: 'apps/gateway', media: 'apps/media' };
  await Promise.all(
    Object.entries(projects).map(
      ([name, dir]) =>
        new Promise((done) => {
          const child = startNode(
            `tsc:${name}`,
            [tsc, '-p', join(dir, 'tsconfig.build.json'), '--watch', '--preserveWatchOutput'],
            env,
          );
          child.stdout.on('data', (chunk) => {
            if (/Watching for file changes/.test(String(chunk))) done();
          });
          child.once('exit', done);
        }),
    ),
  );
}

try {
  const started = Object.keys(apps).map((name) => [name, startApp(name)]);
  await Promise.all(
    started.map(([name, child]) => waitForHealth(name, `http://127.0.0.1:${apps[name].port}/healthz`, child)),
  );
} catch (error) {
  await fail(error.message);
}
ready = true;

if (dev) {
  const pending = new Set();
  let timer;
  const schedule = (names) => {
    for (const name of names) pending.add(name);
    clearTimeout(timer);
    timer = setTimeout(() => {
      const names = [...pending];
      pending.clear();
      for (const name of names) void restartApp(name);
    }, 300);
  };
  const watchDir = (dir, names) => {
    const path = join(root, dir);
    if (existsSync(path)) watch(path, { recursive: true }, () => schedule(names)).unref();
  };
  watchDir('packages/shared/dist', ['gateway', 'media']);
  watchDir('apps/gateway/dist', ['gateway']);
  watchDir('apps/media/dist', ['media']);
}

const sessions = env.REDIS_URL ? 'Redis (REDIS_URL)' : 'process memory (set REDIS_URL to use Redis)';
say('');
say(`stagedoor is running${dev ? ' in dev mode (rebuilds and restarts on change)' : ''}`);
say(`  open      ${tint(1, `${gatewayOrigin}/`)}`);
if (demo) {
  const { DEMO_LISTENER, DEMO_ADMIN } = await import(
    pathToFileURL(join(root, 'packages/shared/dist/demo.js')).href
  );
  say(`  sign in   ${DEMO_LISTENER.email} / ${DEMO_LISTENER.password}`);
  say(`  admin     ${DEMO_ADMIN.email} / ${DEMO_ADMIN.password}`);
}
// What browsers are sent to: the gateway mints media URLs with exactly this base.
say(`  media     ${gatewayEnv.MEDIA_PUBLIC_URL}`);
say(`  objects   ${storeLabel}, bucket ${s3.S3_BUCKET}`);
say(`  sessions  ${sessions}`);
const metricsUrl = (port) =>
  `http://${metricsHost.includes(':') ? `[${metricsHost}]` : metricsHost}:${port}/metrics`;
say(
  `  metrics   ${[
    gatewayMetricsPort ? `gateway ${metricsUrl(gatewayMetricsPort)}` : 'gateway off',
    mediaMetricsPort ? `media ${metricsUrl(mediaMetricsPort)}` : 'media off',
  ].join(', ')}`,
);
say(`  runtime   Node.js ${process.version} (${process.execPath})`);
say('Press Ctrl-C to stop.');
say('');
