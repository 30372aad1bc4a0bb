/**
 * How both apps' `server.ts` run: configuration problems and a taken port are one clear line on stderr
 * and a non-zero exit; SIGTERM and SIGINT close the app (draining requests) and exit within seconds.
 */
interface ClosableApp {
  listen(options: { host: string; port: number }): Promise<string>;
  close(): Promise<unknown>;
  log: { info(obj: object, msg: string): void };
}

export async function runUntilSignal<C extends { host: string; port: number }>(options: {
  name: string;
  portVariable: string;
  loadConfig: () => C;
  buildApp: (config: C) => Promise<ClosableApp>;
}): Promise<void> {
  let config: C;
  try {
    config = options.loadConfig();
  } catch (error) {
    if (error instanceof Error && (error as { code?: string }).code === 'ERR_CONFIG') {
      process.stderr.write(`${options.name}: ${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }
  const app = await options.buildApp(config);
  const close = async (signal: string) => {
    app.log.info({ signal }, 'shutting down');
    setTimeout(() => process.exit(1), 10_000).unref();
    await app.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void close('SIGTERM'));
  process.once('SIGINT', () => void close('SIGINT'));
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_METRICS_LISTEN') {
      process.stderr.write(`${options.name}: ${(error as Error).message}\n`);
      process.exit(1);
    }
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      process.stderr.write(
        `${options.name}: port ${config.port} is already in use (set ${options.portVariable} or PORT)\n`,
      );
      process.exit(1);
    }
    throw error;
  }
}

/**
 * The first line each app writes (called right after its logger exists): which runtime it is on, since
 * the project runs on Node.js 24 LTS and a machine's own `node` may be older.
 */
export function logRuntime(log: { info(obj: object, msg: string): void }, name: string): void {
  log.info({ node: process.version, pid: process.pid }, `${name} starting on Node.js ${process.version}`);
}
