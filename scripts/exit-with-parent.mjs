// Preloaded (`node --import`) into every process that scripts/start.mjs starts. The orchestrator talks
// to its children over an IPC channel; when the orchestrator goes away for any reason (a crash, SIGKILL,
// a terminal closed), the channel closes and the child terminates itself as if it had been sent SIGTERM,
// so `pnpm start` never leaves an orphaned gateway, media or compiler behind.
import { Worker } from 'node:worker_threads';

if (process.channel) {
  process.once('disconnect', () => {
    setTimeout(() => process.exit(1), 4000).unref();
    // A JS timer cannot fire while the main thread is blocked: one media process was once seen stuck in a
    // futex after its graceful close began (main thread, not its event loop). A worker thread has its own
    // loop and ends the process from outside it, 2 s after the timer above should have.
    const watchdog = new Worker(`setTimeout(() => process.kill(${process.pid}, 'SIGKILL'), 6000);`, {
      eval: true,
    });
    watchdog.unref();
    process.kill(process.pid, 'SIGTERM');
  });
  // The channel must not keep an otherwise finished process alive.
  process.channel.unref();
}
