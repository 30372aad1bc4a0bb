// One gateway or one media replica in its own process, for bench/revocation/run.mjs:
//   node servers.mjs gateway   (env: the gateway's variables)
//   node servers.mjs media     (env: media's variables)
// Prints `PORT <n>` once listening on a free loopback port; SIGTERM closes it.
import { buildApp as buildGateway } from '@stagedoor/gateway';
import { loadGatewayConfig } from '@stagedoor/gateway/config';

const role = process.argv[2];
let app;
if (role === 'gateway') {
  app = await buildGateway(loadGatewayConfig(process.env));
} else {
  // Media is not a dependency of the bench package: imported from its build by path.
  const { buildApp } = await import(new URL('../../apps/media/dist/app.js', import.meta.url).href);
  const { loadMediaConfig } = await import(new URL('../../apps/media/dist/config.js', import.meta.url).href);
  app = await buildApp(loadMediaConfig(process.env));
}
await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`PORT ${app.server.address().port}\n`);
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
