// Preloaded (`node --import`) into every process that scripts/start.mjs starts. The orchestrator talks
// to its children over an IPC channel; when the orchestrator goes away for any reason (a crash, SIGKILL,
// a terminal closed), the channel closes and the child terminates itself as if it had been sent SIGTERM,
// so `pnpm start` never leaves an orphaned gateway, media or compiler behind.
if (process.channel) {
  process.once('disconnect', () => {
    setTimeout(() => process.exit(1), 4000).unref();
    process.kill(process.pid, 'SIGTERM');
  });
  // The channel must not keep an otherwise finished process alive.
  process.channel.unref();
}
