// One server per process, so the load generator never shares an event loop with what it measures.
// `node servers.mjs <gateway|bare|bare-ap|express> <redisUrl> <prefix>`: listens on a free loopback port and
// prints it as `PORT <n>` on stdout.

import { buildApp } from '@stagedoor/gateway';
import { loadGatewayConfig } from '@stagedoor/gateway/config';
import connectRedis from 'connect-redis';
import express from 'express';
import session from 'express-session';
import { Redis } from 'ioredis';
import { startFloorServer } from '../floors.mjs';

const [kind, redisUrl, prefix] = process.argv.slice(2);
const SECRET = 'bench-session-secret-0123456789abcdef0123456789';

async function gateway() {
  const config = loadGatewayConfig({
    REDIS_URL: redisUrl,
    REDIS_PREFIX: prefix,
    SESSION_SECRETS: SECRET,
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: process.env.BENCH_DATA_DIR ?? '.data/bench-gateway',
    // 20 concurrent sign-ins of one account from one address: each attempt holds a place in the
    // failed-attempt counters while its hash is computed (reserve, then verify), so the bench lifts them.
    LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_IP: '100000',
    LOGIN_MAX_FAILURES_PER_IP: '100000',
    LOGIN_MAX_FAILURES_PER_ACCOUNT: '100000',
  });
  const app = await buildApp(config);
  return app.listen({ host: '127.0.0.1', port: 0 }).then(() => app.server.address().port);
}

async function bare() {
  // The floor of issue 15 (bench/floors.mjs): parse the signed cookie, check its HMAC, SHA-256 the secret,
  // one Redis GET and JSON.parse, in a plain Fastify route.
  return startFloorServer({ redisUrl, prefix, secret: SECRET });
}

async function bareAutoPipelined() {
  // The same floor, its ioredis client batching commands issued in one tick (as the gateway's does).
  return startFloorServer({ redisUrl, prefix, secret: SECRET, autoPipelining: true });
}

async function expressStack() {
  const RedisStore = connectRedis.default ?? connectRedis.RedisStore ?? connectRedis;
  const client = new Redis(redisUrl);
  const app = express();
  app.use(express.json());
  app.use(
    session({
      store: new RedisStore({ client, prefix: `${prefix}express:` }),
      secret: SECRET,
      name: 'sid',
      resave: false,
      saveUninitialized: false,
      rolling: false,
      cookie: { httpOnly: true, sameSite: 'lax', secure: false, maxAge: 30 * 60 * 1000 },
    }),
  );
  app.post('/login', (req, res) => {
    req.session.regenerate(() => {
      req.session.user = { id: 'usr_bench', email: 'bench@example.com', name: 'Bench', role: 'user' };
      res.json({ ok: true });
    });
  });
  app.get('/me', (req, res) => {
    if (!req.session.user) return res.status(401).json({ error: 'unauthenticated' });
    res.json({ user: req.session.user, session: { id: req.session.id } });
  });
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

const start = { gateway, bare, 'bare-ap': bareAutoPipelined, express: expressStack }[kind];
if (!start) {
  console.error(`unknown server kind ${kind}`);
  process.exit(64);
}
const started = await start();
const { port, cookie } = typeof started === 'number' ? { port: started, cookie: '' } : started;
process.stdout.write(`PORT ${port}${cookie ? ` COOKIE ${cookie}` : ''}\n`);
// CPU time this server has used (user + system, µs), asked over IPC: per-request CPU cost is far less
// sensitive to other work on a shared machine than requests per second.
process.on('message', (message) => {
  if (message === 'cpu') {
    const { user, system } = process.cpuUsage();
    process.send?.({ cpu: user + system });
  }
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
