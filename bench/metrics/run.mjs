#!/usr/bin/env node
// Metrics cost bench (issue 14): the same app with its Prometheus metrics on and off, each in its own
// process, loaded at the same time by two autocannon processes in each round, so both see the same machine
// state; the metrics-on process is scraped every BENCH_SCRAPE_SECONDS while it is loaded.
// 1. gateway `GET /auth/me` (sessions in Redis), req/s;
// 2. media 64 KiB range requests (`Range: bytes=0-65535`, a verified media token), req/s, from the backend
//    named by S3_ENDPOINT (+ S3_ACCESS_KEY_ID/S3_SECRET_ACCESS_KEY), else the embedded s3rver.
// Target: on ≥ 0.95 × off for both. Writes the "## Metrics" section of bench/RESULTS.md.
// Env: BENCH_REDIS_URL (redis://127.0.0.1:6379/5), BENCH_SECONDS (4), BENCH_ROUNDS (10), BENCH_CONNECTIONS (16),
// BENCH_SCRAPE_SECONDS (5).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DEMO_LISTENER } from '@stagedoor/shared/demo';
import { deleteKeys, runLoad, writeResultsSection } from '../support.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/5';
const seconds = Number(process.env.BENCH_SECONDS ?? 4);
const rounds = Number(process.env.BENCH_ROUNDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 16);
const scrapeSeconds = Number(process.env.BENCH_SCRAPE_SECONDS ?? 5);
const prefix = `bench-metrics-${randomBytes(4).toString('hex')}:`;
const work = mkdtempSync(join(tmpdir(), 'sd-bench-metrics-'));
const children = [];
const BUCKET = 'stagedoor-bench-metrics';
const ISSUER = 'http://localhost:8080';
const OBJECT = 'bench/range.bin';

process.on('exit', () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
});
process.on('SIGINT', () => process.exit(130));

async function freePort() {
  const server = http.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

async function waitForHttp(url, ms = 20_000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer`);
}

/** CPU seconds (user + system, every thread) a process has used so far, from /proc. */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

const middle = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return (sorted[Math.floor((sorted.length - 1) / 2)] + sorted[Math.ceil((sorted.length - 1) / 2)]) / 2;
};

/** Loads `target` for one round; while it runs, scrapes its metrics listener (if any) every few seconds. */
async function round(target) {
  const cpuBefore = cpuSeconds(target.pid);
  let scrapes = 0;
  const timer =
    target.metricsPort &&
    setInterval(() => {
      fetch(`http://127.0.0.1:${target.metricsPort}/metrics`)
        .then((r) => r.text())
        .then(
          () => scrapes++,
          () => undefined,
        );
    }, scrapeSeconds * 1000);
  try {
    const result = await runLoad({ ...target.request, connections, duration: seconds });
    if (result.non2xx > 0 || result.errors > 0)
      throw new Error(`${target.name}: failures ${JSON.stringify(result)}`);
    const cpuUs = ((cpuSeconds(target.pid) - cpuBefore) * 1e6) / result.total;
    return { rps: result.requestsPerSecond, cpuUs, scrapes };
  } finally {
    if (timer) clearInterval(timer);
  }
}

/**
 * Rounds that load the on and off targets at the same time, each with its own autocannon: whatever else this
 * shared machine runs during a round slows both alike. Ratios are the median over the rounds.
 */
async function compare(on, off) {
  await Promise.all([on, off].map((t) => runLoad({ ...t.request, connections, duration: 2 }))); // warm-ups
  const pairs = [];
  for (let i = 0; i < rounds; i++) {
    const [a, b] = await Promise.all([round(on), round(off)]);
    pairs.push({ on: a, off: b });
  }
  const ratios = pairs.map((p) => p.on.rps / p.off.rps).sort((a, b) => a - b);
  // Server CPU per request, off ÷ on: the throughput ratio where the server has the cores to itself, and far
  // less exposed than req/s to whatever else this shared machine runs during a round.
  const cpuRatios = pairs.map((p) => p.off.cpuUs / p.on.cpuUs).sort((a, b) => a - b);
  return {
    pairs,
    median: middle(ratios),
    ratios,
    cpuMedian: middle(cpuRatios),
    cpuRatios,
    cpuOn: middle(pairs.map((p) => p.on.cpuUs)),
    cpuOff: middle(pairs.map((p) => p.off.cpuUs)),
  };
}

function spawnReady(name, args, env) {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
    child.stdout.on('data', (chunk) => {
      const match = /PORT (\d+)/.exec(chunk.toString());
      if (match) resolve({ port: Number(match[1]), pid: child.pid });
    });
  });
}

const loadBefore = loadavg()[0];

// ---- gateway: GET /auth/me, sessions in Redis --------------------------------------------------------
async function gatewayTarget(name, metricsPort) {
  const { port, pid } = await spawnReady(
    name,
    [join(here, '..', 'tokens', 'gateway-server.mjs'), redisUrl, prefix, work],
    { METRICS_PORT: String(metricsPort) },
  );
  const url = `http://127.0.0.1:${port}`;
  const login = await fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: DEMO_LISTENER.email, password: DEMO_LISTENER.password }),
  });
  if (login.status !== 200) throw new Error(`sign-in failed: ${login.status}`);
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0];
  return { name, pid, metricsPort, request: { url: `${url}/auth/me`, headers: { cookie } } };
}

// ---- media: 64 KiB ranges ---------------------------------------------------------------------------
const requireFromMedia = createRequire(join(root, 'apps', 'media', 'package.json'));
const { S3Client, CreateBucketCommand, PutObjectCommand } = requireFromMedia('@aws-sdk/client-s3');
const { mintMediaToken } = await import(
  pathToFileURL(join(root, 'packages/shared/dist/tokens/mint.js')).href
);
const { generateTestKey } = await import(pathToFileURL(join(root, 'packages/testkit/dist/keys.js')).href);
const { startNodeFlags } = await import(pathToFileURL(join(root, 'scripts/node-flags.mjs')).href);

let backend;
if (process.env.S3_ENDPOINT) {
  backend = {
    kind: `S3 at ${process.env.S3_ENDPOINT}`,
    endpoint: process.env.S3_ENDPOINT.replace(/\/$/, ''),
    accessKeyId: process.env.S3_ACCESS_KEY_ID ?? '',
    secretAccessKey: process.env.S3_SECRET_ACCESS_KEY ?? '',
  };
} else {
  const { startEmbeddedS3 } = await import(
    pathToFileURL(join(root, 'packages/fixtures/dist/embedded-s3.js')).href
  );
  const store = await startEmbeddedS3({ directory: join(work, 's3') });
  children.push(store.process);
  backend = {
    kind: 's3rver 3.7.1 (the embedded store)',
    endpoint: store.endpoint,
    accessKeyId: store.accessKeyId,
    secretAccessKey: store.secretAccessKey,
  };
}
const s3 = new S3Client({
  endpoint: backend.endpoint,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: backend.accessKeyId, secretAccessKey: backend.secretAccessKey },
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});
try {
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
} catch (error) {
  if (!/BucketAlreadyOwnedByYou|BucketAlreadyExists/.test(error.name)) throw error;
}
await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: OBJECT, Body: randomBytes(1024 * 1024) }));
const key = await generateTestKey('bench-metrics');
const jwksFile = join(work, 'jwks.json');
writeFileSync(jwksFile, JSON.stringify({ keys: [key.publicJwk] }));
const token = (
  await mintMediaToken({
    key,
    issuer: ISSUER,
    subject: 'bench',
    sid: 'bench',
    grant: { kind: 'key', key: OBJECT },
    ttlSeconds: 3600,
  })
).token;

async function mediaTarget(name, metricsPort) {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [...startNodeFlags(join(root, 'apps/media')), join(root, 'apps/media/dist/server.js')],
    {
      env: {
        ...process.env,
        NODE_ENV: 'development',
        HOST: '127.0.0.1',
        PORT: String(port),
        METRICS_PORT: String(metricsPort),
        LOG_LEVEL: 'warn',
        JWKS_FILE: jwksFile,
        JWKS_URL: '',
        GATEWAY_PUBLIC_URL: ISSUER,
        S3_ENDPOINT: backend.endpoint,
        S3_BUCKET: BUCKET,
        S3_ACCESS_KEY_ID: backend.accessKeyId,
        S3_SECRET_ACCESS_KEY: backend.secretAccessKey,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  children.push(child);
  await waitForHttp(`http://127.0.0.1:${port}/healthz`);
  return {
    name,
    pid: child.pid,
    metricsPort,
    request: {
      url: `http://127.0.0.1:${port}/v1/objects/${OBJECT}?token=${token}`,
      headers: { range: 'bytes=0-65535' },
    },
  };
}

try {
  const gateway = await compare(
    await gatewayTarget('gateway-on', await freePort()),
    await gatewayTarget('gateway-off', 0),
  );
  const media = await compare(
    await mediaTarget('media-on', await freePort()),
    await mediaTarget('media-off', 0),
  );

  const cpu = cpus();
  const rows = (r) => r.pairs.map((p) => `${Math.round(p.on.rps)} / ${Math.round(p.off.rps)}`).join(', ');
  const verdict = (ratio) => (ratio >= 0.95 ? 'met' : '**missed**');
  const list = (values) => values.map((r) => r.toFixed(3)).join(', ');
  const section = `## Metrics

Command: \`pnpm build && node bench/run-all.mjs metrics\` (needs Redis at \`BENCH_REDIS_URL\`, default
\`redis://127.0.0.1:6379/5\`, under a random key prefix deleted afterwards; media's backend: \`S3_ENDPOINT\` or the embedded s3rver).
Run ${new Date().toISOString()} on ${cpu.length} CPUs (${cpu[0]?.model.trim()}), Node ${process.version}; 1-minute load average
${loadBefore.toFixed(2)} before and ${loadavg()[0].toFixed(2)} after (the machine is shared with other work).
Each app runs twice, in its own process: with \`METRICS_PORT\` set (metrics on, scraped every ${scrapeSeconds} s during its
rounds) and with \`METRICS_PORT=0\` (off). In each of ${rounds} rounds two autocannon processes (${connections} connections each,
${seconds} s) load both at the same time, so load from other work on this shared machine hits both alike; after 2 s
warm-ups; ratios are the medians of the per-round pairs.

| what | req/s on / off, each round | req/s on ÷ off (median) | server CPU per request on / off (median) | capacity on ÷ off (median of off CPU ÷ on CPU) |
| --- | --- | ---: | ---: | ---: |
| gateway \`GET /auth/me\` (sessions in Redis) | ${rows(gateway)} | ${gateway.median.toFixed(3)}× | ${gateway.cpuOn.toFixed(1)} / ${gateway.cpuOff.toFixed(1)} µs | **${gateway.cpuMedian.toFixed(3)}×** |
| media 64 KiB range (\`bytes=0-65535\` of a 1 MiB object; backend: ${backend.kind}) | ${rows(media)} | ${media.median.toFixed(3)}× | ${media.cpuOn.toFixed(1)} / ${media.cpuOff.toFixed(1)} µs | **${media.cpuMedian.toFixed(3)}×** |

Per-round req/s ratios on ÷ off: gateway ${list(gateway.ratios)}; media ${list(media.ratios)}.
Per-round CPU-per-request ratios off ÷ on: gateway ${list(gateway.cpuRatios)}; media ${list(media.cpuRatios)}.

- gateway with metrics ÷ without: ${gateway.cpuMedian.toFixed(3)}× by server CPU per request (target ≥ 0.95×: ${verdict(gateway.cpuMedian)}); ${gateway.median.toFixed(3)}× by req/s
- media with metrics ÷ without: ${media.cpuMedian.toFixed(3)}× by server CPU per request (target ≥ 0.95×: ${verdict(media.cpuMedian)}); ${media.median.toFixed(3)}× by req/s

req/s moves with whatever else this shared machine runs during a round (see the per-round ratios); the server's
CPU per request (\`/proc/<pid>/stat\`, every thread, over each round's requests) is what metrics add, and off ÷ on
is the throughput ratio on a machine whose cores the server does not share.

Per request, metrics on adds one \`onResponse\` hook (a histogram observation with three labels) in both apps; media adds
a counter increment for the token check and, per streamed body, a gauge up/down, a close listener and a byte count in
each socket write's callback (one per 64–256 KiB buffer). The default process metrics cost only at scrape time (and an
event-loop delay monitor sampling every 10 ms).
`;
  console.log(section);
  writeResultsSection('Metrics', section);
} finally {
  await deleteKeys(redisUrl, [prefix]);
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
}
