// The mint floor in its own process: `node floor-server.mjs <redisUrl> <prefix>`; prints `PORT <n> COOKIE <c>`.
import { startFloorServer } from '../floors.mjs';

const [redisUrl, prefix] = process.argv.slice(2);
const { port, cookie } = await startFloorServer({
  redisUrl,
  prefix,
  secret: 'bench-floor-secret-0123456789abcdef0123456789',
});
process.stdout.write(`PORT ${port} COOKIE ${cookie}\n`);
process.on('SIGTERM', () => process.exit(0));
