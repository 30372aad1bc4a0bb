/**
 * The stack as `pnpm start` runs it: scripts/start.mjs (or `pnpm start` itself) on free loopback ports,
 * with its own data directory, the embedded S3 store and sessions in process memory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
export const START_SCRIPT = join(ROOT, 'scripts/start.mjs');

export async function freePort(): Promise<number> {
  return new Promise((ok, bad) => {
    const server = createServer();
    server.once('error', bad);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? ok(address.port) : bad(new Error('no port')),
      );
    });
  });
}

export interface Stack {
  gatewayUrl: string;
  mediaUrl: string;
  gatewayPort: number;
  mediaPort: number;
  process: ChildProcess;
  /** Everything the stack printed so far (stdout and stderr). */
  output(): string;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** `pnpm`: run `pnpm start` at the repository root (builds first); default: `node scripts/start.mjs`. */
  via?: 'pnpm' | 'node';
  env?: Record<string, string>;
  /** Arguments for scripts/start.mjs (e.g. `--dev`); only with `via: 'node'`. */
  args?: string[];
  readyTimeoutMs?: number;
}

/** The environment the tests start the stack with: no REDIS_URL/S3_* from the caller leak in. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(S3_|REDIS_URL|GATEWAY_|MEDIA_|PORT$|HOST$|NODE_ENV$|VITEST|TURBO_(?!TELEMETRY))/.test(name))
      continue;
    env[name] = value;
  }
  return { ...env, NO_COLOR: '1', ...extra };
}

export async function startStack(options: StartOptions = {}): Promise<Stack> {
  const gatewayPort = await freePort();
  let mediaPort = await freePort();
  while (mediaPort === gatewayPort) mediaPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'sd-e2e-'));
  const taken = new Set([gatewayPort, mediaPort]);
  const anotherPort = async () => {
    let port = await freePort();
    while (taken.has(port)) port = await freePort();
    taken.add(port);
    return port;
  };
  const env = cleanEnv({
    GATEWAY_PORT: String(gatewayPort),
    MEDIA_PORT: String(mediaPort),
    // Free ports for the metrics listeners too (pnpm start's defaults, 9464/9465, are fixed ones).
    GATEWAY_METRICS_PORT: String(await anotherPort()),
    MEDIA_METRICS_PORT: String(await anotherPort()),
    STAGEDOOR_DATA_DIR: dataDir,
    ...options.env,
  });
  const child =
    options.via === 'pnpm'
      ? spawn('pnpm', ['start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(process.execPath, [START_SCRIPT, ...(options.args ?? [])], {
          cwd: ROOT,
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  await new Promise<void>((ok, bad) => {
    const timer = setTimeout(
      () => bad(new Error(`the stack did not start in time:\n${output}`)),
      options.readyTimeoutMs ?? 60_000,
    );
    const check = () => {
      if (output.includes('Press Ctrl-C to stop.')) {
        clearTimeout(timer);
        child.stdout?.off('data', check);
        ok();
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      bad(new Error(`the stack exited with code ${code} before it was ready:\n${output}`));
    });
  });
  return {
    gatewayUrl: `http://localhost:${gatewayPort}`,
    mediaUrl: `http://localhost:${mediaPort}`,
    gatewayPort,
    mediaPort,
    process: child,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Every live descendant of `pid`, from /proc (Linux). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid …; comm may contain spaces and parentheses, so split after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift() as number) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // A zombie has exited; it only waits for its parent to collect the status.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
  } catch {
    return false;
  }
}
