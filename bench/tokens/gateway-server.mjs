// The gateway in its own process for the tokens and metrics benches:
// `node gateway-server.mjs <redisUrl> <prefix> <dataDir>`; METRICS_PORT in the environment turns metrics on.
// Prints `PORT <n>` once listening on a free loopback port.
import { buildApp } from '@stagedoor/gateway';
import { loadGatewayConfig } from '@stagedoor/gateway/config';

const [redisUrl, prefix, dataDir] = process.argv.slice(2);
const config = loadGatewayConfig({
  REDIS_URL: redisUrl,
  REDIS_PREFIX: prefix,
  SESSION_SECRETS: 'bench-tokens-secret-0123456789abcdef0123456789',
  LOG_LEVEL: 'warn',
  DATA_DIR: dataDir,
  // Generous limits: the bench signs in once and then never fails a sign-in.
  LOGIN_MAX_FAILURES_PER_IP: '100000',
  METRICS_PORT: process.env.METRICS_PORT ?? '0',
});
const app = await buildApp(config);
await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`PORT ${app.server.address().port}\n`);
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
