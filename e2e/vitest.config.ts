import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    setupFiles: ['../scripts/require-node-24.mjs'],
    include: ['test/**/*.test.ts'],
    testTimeout: 90_000,
    hookTimeout: 120_000,
    // One stack and one browser at a time: the machine has two cores and real time matters here
    // (currentTime advancing, tokens expiring).
    fileParallelism: false,
  },
});
