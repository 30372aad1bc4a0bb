// Starts one server of bench/sessions/servers.mjs in its own process (with an IPC channel for `cpuOf`) and
// resolves once it listens: `{ kind, port, cookie, child }` (`cookie`: the floors' ready session, else '').
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export function startServer(kind, { redisUrl, prefix, dataDir }) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(here, 'servers.mjs'), kind, redisUrl, prefix], {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      env: { ...process.env, BENCH_DATA_DIR: dataDir, NODE_NO_WARNINGS: '1' },
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /PORT (\d+)(?: COOKIE (\S+))?\n/.exec(out);
      if (m) resolve({ kind, port: Number(m[1]), cookie: m[2] ?? '', child });
    });
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
}
