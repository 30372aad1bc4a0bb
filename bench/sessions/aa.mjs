#!/usr/bin/env node
// A/A run (issue 15: "say how you judged noise"): two identical gateway processes of the same build, loaded
// in alternating rounds exactly as bench/sessions/run.mjs loads the gateway and its floor. The spread of their
// per-round ratios (req/s and server CPU per request) is this machine's noise for the sessions figures: a
// difference between two builds inside it is not called a change. Prints the rounds; writes nothing.
// Env: BENCH_REDIS_URL (redis://127.0.0.1:6379/4), BENCH_ROUNDS (6), BENCH_DURATION (5 s), BENCH_CONNECTIONS (32).
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { cpuOf, deleteKeys, runLoad } from '../support.mjs';
import { startServer } from './start-server.mjs';

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/4';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const PREFIX = `benchaa${Math.random().toString(16).slice(2, 8)}:`;
const dataDir = mkdtempSync(join(os.tmpdir(), 'stagedoor-bench-aa-'));
const children = [];

async function startGateway() {
  const server = await startServer('gateway', { redisUrl: REDIS_URL, prefix: PREFIX, dataDir });
  children.push(server.child);
  return server;
}

function signIn(port) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/auth/login',
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        const sid = (res.headers['set-cookie'] ?? []).find((c) => c.startsWith('sid='));
        if (res.statusCode !== 200 || !sid) reject(new Error(`sign-in answered ${res.statusCode}`));
        else resolve(sid.split(';')[0]);
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ email: 'listener@example.com', password: 'listener-pass-1234' }));
  });
}

try {
  const servers = [await startGateway(), await startGateway()];
  const targets = await Promise.all(
    servers.map(async (s) => ({
      ...s,
      url: `http://127.0.0.1:${s.port}/auth/me`,
      cookie: await signIn(s.port),
    })),
  );
  for (const t of targets)
    await runLoad({ url: t.url, headers: { cookie: t.cookie }, connections: CONNECTIONS, duration: 2 });
  const rps = [];
  const cpu = [];
  for (let round = 0; round < ROUNDS; round++) {
    const result = [];
    for (const i of round % 2 ? [1, 0] : [0, 1]) {
      const t = targets[i];
      const before = await cpuOf(t.child);
      const r = await runLoad({
        url: t.url,
        headers: { cookie: t.cookie },
        connections: CONNECTIONS,
        duration: DURATION,
      });
      if (r.non2xx > 0 || r.errors > 0)
        throw new Error(`round ${round + 1}: ${r.non2xx} non-2xx, ${r.errors} errors`);
      result[i] = { rps: r.requestsPerSecond, cpu: ((await cpuOf(t.child)) - before) / r.total };
    }
    rps.push(result[0].rps / result[1].rps);
    cpu.push(result[1].cpu / result[0].cpu);
    console.log(
      `round ${round + 1}: A ${result[0].rps.toFixed(0)} req/s ${result[0].cpu.toFixed(1)} µs, B ${result[1].rps.toFixed(0)} req/s ${result[1].cpu.toFixed(1)} µs; A/B ${rps.at(-1).toFixed(3)} by req/s, ${cpu.at(-1).toFixed(3)} by CPU`,
    );
  }
  const sorted = (xs) => [...xs].sort((a, b) => a - b);
  const summary = (xs) =>
    `median ${sorted(xs)[Math.floor(xs.length / 2)].toFixed(3)}, range ${sorted(xs)[0].toFixed(3)}–${sorted(xs).at(-1).toFixed(3)}`;
  console.log(`A/A by req/s: ${summary(rps)}; by server CPU per request: ${summary(cpu)}`);
} finally {
  for (const child of children) child.kill('SIGTERM');
  await deleteKeys(REDIS_URL, [PREFIX]);
  rmSync(dataDir, { recursive: true, force: true });
}
