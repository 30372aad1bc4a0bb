/**
 * `pnpm start` as an operator meets it: it starts everything, and a signal to the `pnpm start` process
 * alone (or the orchestrator dying) stops every process it started within seconds.
 */
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { DEMO_LISTENER } from '@stagedoor/shared/demo';
import { describe, expect, it } from 'vitest';
import { descendants, freePort, isAlive, ROOT, START_SCRIPT, startStack } from './support/stack.js';

const run = promisify(execFile);

async function allGone(pids: number[], timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (pids.some(isAlive)) {
    if (Date.now() - started > timeoutMs) {
      throw new Error(`still running after ${timeoutMs} ms: ${pids.filter(isAlive).join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - started;
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

describe('pnpm start', () => {
  it('prints the URL and the demo sign-in, serves the page, and SIGTERM to pnpm alone stops everything', async () => {
    const stack = await startStack({ via: 'pnpm', readyTimeoutMs: 180_000 });
    try {
      const output = stack.output();
      expect(output).toContain(`open      http://localhost:${stack.gatewayPort}/`);
      expect(output).toContain(`${DEMO_LISTENER.email} / ${DEMO_LISTENER.password}`);
      const page = await fetch(`${stack.gatewayUrl}/`);
      expect(page.status).toBe(200);
      expect(await fetch(`http://127.0.0.1:${stack.mediaPort}/healthz`).then((r) => r.status)).toBe(200);

      const pnpmPid = stack.process.pid as number;
      const tree = descendants(pnpmPid);
      // node scripts/start.mjs, the embedded S3 store, gateway and media at least.
      expect(tree.length).toBeGreaterThanOrEqual(4);
      process.kill(pnpmPid, 'SIGTERM');
      const ms = await allGone(tree, 10_000);
      process.stdout.write(`SIGTERM to pnpm: all ${tree.length} processes gone after ${ms} ms\n`);
      expect(await portIsFree(stack.gatewayPort)).toBe(true);
      expect(await portIsFree(stack.mediaPort)).toBe(true);
    } finally {
      await stack.stop();
    }
  });

  it('names its runtime, prints the media URL browsers get, and stops everything when the store dies', async () => {
    const mediaPublicUrl = 'http://media.stagedoor.test:18081';
    const stack = await startStack({ env: { MEDIA_PUBLIC_URL: mediaPublicUrl } });
    try {
      const output = stack.output();
      expect(output).toContain(`  media     ${mediaPublicUrl}\n`);
      const runtime = /runtime {3}Node\.js v(\d+)\./.exec(output);
      expect(Number(runtime?.[1])).toBeGreaterThanOrEqual(24);
      // Each app's first line names the Node.js it runs on.
      for (const app of ['gateway', 'media']) {
        const first = output.split('\n').find((line) => new RegExp(`^\\S* *${app} +`).test(line)) ?? '';
        expect(first).toMatch(new RegExp(`${app} starting on Node\\.js v(2[4-9]|[3-9]\\d)\\.`));
      }
      const tree = descendants(stack.process.pid as number);
      const store = tree.find((pid) => commandLine(pid).includes('s3-server.js'));
      expect(store).toBeDefined();
      process.kill(store as number, 'SIGKILL');
      const code = await new Promise<number | null>((done) => stack.process.once('exit', done));
      expect(code, stack.output()).toBe(1);
      expect(stack.output()).toContain(
        'stagedoor: the embedded object store exited (SIGKILL); stopping everything\n',
      );
      await allGone(tree, 10_000);
    } finally {
      await stack.stop();
    }
  });

  it('the stack ends when the orchestrator itself is killed (SIGKILL, no chance to clean up)', async () => {
    const stack = await startStack();
    try {
      const orchestrator = stack.process.pid as number;
      const tree = descendants(orchestrator);
      expect(tree.length).toBeGreaterThanOrEqual(3);
      process.kill(orchestrator, 'SIGKILL');
      const ms = await allGone(tree, 10_000);
      process.stdout.write(`SIGKILL to the orchestrator: all ${tree.length} children gone after ${ms} ms\n`);
    } finally {
      await stack.stop();
    }
  });

  it('--dev restarts an app when its build changes, and stops the compilers too', async () => {
    const stack = await startStack({ args: ['--dev'], readyTimeoutMs: 120_000 });
    try {
      const tree = descendants(stack.process.pid as number);
      // three `tsc --watch`, the store, gateway and media
      expect(tree.length).toBeGreaterThanOrEqual(6);
      const now = new Date();
      utimesSync(join(ROOT, 'apps/gateway/dist/routes/profile.js'), now, now);
      await expect.poll(() => stack.output().includes('restarting gateway'), { timeout: 10_000 }).toBe(true);
      await expect
        .poll(
          async () =>
            fetch(`${stack.gatewayUrl}/healthz`)
              .then((r) => r.status)
              .catch(() => 0),
          {
            timeout: 20_000,
          },
        )
        .toBe(200);
      const afterRestart = descendants(stack.process.pid as number);
      stack.process.kill('SIGTERM');
      await allGone([...new Set([...tree, ...afterRestart])], 10_000);
    } finally {
      await stack.stop();
    }
  });

  it('a taken port is one clear line and exit 1, leaving nothing running', async () => {
    const port = await freePort();
    const blocker: Server = createServer();
    await new Promise<void>((ok) => blocker.listen(port, '127.0.0.1', ok));
    try {
      const child = spawn(process.execPath, [START_SCRIPT], {
        cwd: ROOT,
        env: { ...process.env, GATEWAY_PORT: String(port), MEDIA_PORT: String(await freePort()) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const code = await new Promise<number | null>((done) => child.once('exit', done));
      expect(code).toBe(1);
      expect(stderr).toBe(`stagedoor: port ${port} is already in use (set GATEWAY_PORT)\n`);
    } finally {
      await new Promise((done) => blocker.close(done));
    }
  });

  it('a missing build is one clear line and exit 1', async () => {
    // The orchestrator looks for the builds next to itself: a copy in an empty tree has none.
    const empty = mkdtempSync(join(tmpdir(), 'sd-nobuild-'));
    try {
      mkdirSync(join(empty, 'scripts'));
      copyFileSync(START_SCRIPT, join(empty, 'scripts/start.mjs'));
      copyFileSync(join(dirname(START_SCRIPT), 'node-flags.mjs'), join(empty, 'scripts/node-flags.mjs'));
      copyFileSync(
        join(dirname(START_SCRIPT), 'require-node-24.mjs'),
        join(empty, 'scripts/require-node-24.mjs'),
      );
      const error = await run(process.execPath, [join(empty, 'scripts/start.mjs')], {
        env: { ...process.env, GATEWAY_PORT: String(await freePort()), MEDIA_PORT: String(await freePort()) },
      }).catch((e: { code: number; stderr: string }) => e);
      expect(error).toMatchObject({ code: 1 });
      expect((error as { stderr: string }).stderr).toBe(
        'stagedoor: apps/gateway/dist/server.js is missing: run `pnpm build` first (`pnpm start` builds before starting)\n',
      );
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
