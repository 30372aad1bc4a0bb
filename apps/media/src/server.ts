/** Entry point: read the configuration, build the app, listen, and close cleanly on a signal. */
import { runUntilSignal } from '@stagedoor/shared/lifecycle';
import { buildApp } from './app.js';
import { loadMediaConfig } from './config.js';

await runUntilSignal({
  name: 'media',
  portVariable: 'MEDIA_PORT',
  loadConfig: () => loadMediaConfig(),
  buildApp: (config) => buildApp(config),
});
