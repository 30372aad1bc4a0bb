/** Entry point: read the configuration, build the app, listen, and close cleanly on a signal. */
import { runUntilSignal } from '@stagedoor/shared/lifecycle';
import { buildApp } from './app.js';
import { loadGatewayConfig } from './config.js';

await runUntilSignal({
  name: 'gateway',
  portVariable: 'GATEWAY_PORT',
  loadConfig: () => loadGatewayConfig(),
  buildApp: (config) => buildApp(config),
});
